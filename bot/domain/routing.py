"""Where a request goes: labels, approving team and co-owners, from the answers and the catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.catalog import Option, SupportModel


def selected_options(model: SupportModel, answers: Mapping[str, Any]) -> dict[str, Option | list[Option]]:
    """The catalogue options chosen in each select field (labels, teams, URLs ride on them)."""
    chosen: dict[str, Option | list[Option]] = {}
    for field in model.fields:
        value = answers.get(field.id)
        if field.type == "select" and value is not None:
            option = field.option(str(value))
            if option is not None:
                chosen[field.id] = option
        elif field.type == "multi_select" and value:
            chosen[field.id] = [o for v in value if (o := field.option(v)) is not None]
    return chosen


def _options(chosen: Mapping[str, Option | list[Option]]) -> Iterable[Option]:
    for value in chosen.values():
        yield from (value if isinstance(value, list) else [value])


def issue_labels(
    model: SupportModel,
    answers: Mapping[str, Any],
    *,
    default_labels: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> list[str]:
    """Catalogue labels, then labels of the chosen options (e.g. edcast-contribution-*), de-duplicated."""
    labels = [*default_labels, *model.labels]
    for option in _options(selected_options(model, answers)):
        labels.extend(option.labels)
    labels.extend(extra)
    return list(dict.fromkeys(lbl for lbl in labels if lbl))


def approving_team(model: SupportModel, answers: Mapping[str, Any]) -> str | None:
    """The team that reviews the request, when a chosen option names one (LXP audiences)."""
    chosen = selected_options(model, answers)
    for field in model.fields:
        value = chosen.get(field.id)
        if isinstance(value, Option) and value.team:
            return value.team
    return None


def co_owners(model: SupportModel, answers: Mapping[str, Any], requester: str) -> list[str]:
    """Slack user ids who share the request's reminders (hosts, co-owners), without the requester."""
    people: list[str] = []
    for name in model.co_owner_fields:
        value = answers.get(name)
        people.extend([value] if isinstance(value, str) else (value or []))
    return [p for p in dict.fromkeys(people) if p != requester]
