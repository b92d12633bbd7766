"""`learnbot preview MODEL [--message KIND]`: what a form or a message looks like before it is live.

Every surface is built by the same pure builders learnbot uses (bot/messages), from the
configured catalogue and sample answers, so an editor sees the changed catalogue exactly as people
will. `validate_all_messages` checks every one of them with slack_sdk's Block Kit models (what
`learnbot check` runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.catalog import LoadedCatalog
from bot.catalog.schema import SupportModel
from bot.domain.planning import plan_milestones
from bot.messages import forms, notices
from bot.messages.reminders import reminder_message

BUILDER = "https://app.slack.com/block-kit-builder/#"
# A fixed, far-off weekday, so a preview never depends on the day it is made.
SAMPLE_TODAY = date(2030, 1, 7)
SAMPLE_ANCHOR = SAMPLE_TODAY + timedelta(days=364)  # far enough for any plan: nothing pulled forward
SAMPLE_ISSUE = "https://gitlab.example.com/learning/requests/-/issues/42"


class UnknownPreview(LookupError):
    pass


@dataclass
class _SampleMilestone:
    key: str
    title: str
    due_on: date
    done_at: Any = None
    pulled_forward: bool = False


@dataclass
class _SampleRequest:
    """Stands in for a stored request in the builders (they read attributes only)."""
    title: str
    support_model: str
    id: int = 42
    gitlab_iid: int = 42
    gitlab_url: str = SAMPLE_ISSUE
    plan_compressed: bool = False
    milestones: list[_SampleMilestone] = field(default_factory=list)


def _sample(model: SupportModel) -> _SampleRequest:
    request = _SampleRequest(title=f"Sample: {model.name}", support_model=model.key)
    if model.plan is not None:
        plan = plan_milestones(model.plan, SAMPLE_ANCHOR, SAMPLE_TODAY)
        request.milestones = [_SampleMilestone(m.key, m.title, m.due_on) for m in plan.milestones]
    return request


def _first_step(model: SupportModel) -> tuple[str, date]:
    request = _sample(model)
    if request.milestones:
        return request.milestones[0].title, request.milestones[0].due_on
    return "Review", SAMPLE_TODAY


Surface = tuple[str, dict[str, Any]]  # ("view" | "message", body)


def _message(built: tuple[str, list[Any]]) -> Surface:
    text, blocks = built
    return "message", {"text": text, "blocks": blocks}


def _surfaces(catalog: LoadedCatalog, model: SupportModel) -> dict[str, Callable[[], Surface]]:
    sample = _sample(model)
    step, due = _first_step(model)
    plan = plan_milestones(model.plan, SAMPLE_ANCHOR, SAMPLE_TODAY) if model.plan is not None else None
    return {
        "form": lambda: ("view", forms.request_modal(model, requester="U0SAMPLE")),
        "saved": lambda: ("view", forms.request_saved_view(model, title=sample.title, plan=plan)),
        "filed": lambda: _message(notices.request_filed(sample, model)),
        "filing-delayed": lambda: _message(notices.filing_delayed(sample.title)),
        "filing-failed": lambda: _message(notices.filing_failed(sample.title, "GitLab answered 403: forbidden")),
        "closed": lambda: _message(notices.request_closed(sample.title, closed_by="U0SAMPLE")),
        "issue-changed": lambda: _message(notices.issue_changed(
            title=sample.title, url=SAMPLE_ISSUE, lines=["Labels: +in-progress", "Due date moved to 2030-03-01"])),
        "reminder": lambda: _message(reminder_message(reminder_id=1, step=step, due_on=due,
                                                      request_title=sample.title, issue_url=SAMPLE_ISSUE, late=False)),
        "reminder-late": lambda: _message(reminder_message(reminder_id=1, step=step, due_on=due,
                                                           request_title=sample.title, issue_url=SAMPLE_ISSUE,
                                                           late=True)),
        "help": lambda: _message(forms.help_message(catalog)),
    }


def kinds(catalog: LoadedCatalog, model_key: str) -> list[str]:
    return list(_surfaces(catalog, _model(catalog, model_key)))


def _model(catalog: LoadedCatalog, key: str) -> SupportModel:
    model = catalog.model(key)
    if model is None:
        raise UnknownPreview(f"no support model {key!r}; the catalogue has {', '.join(catalog.catalog.keys)}")
    return model


def build(catalog: LoadedCatalog, model_key: str, kind: str = "form") -> Surface:
    surfaces = _surfaces(catalog, _model(catalog, model_key))
    if kind not in surfaces:
        raise UnknownPreview(f"no message kind {kind!r}; choose one of {', '.join(surfaces)}")
    return surfaces[kind]()


def builder_link(surface: Surface) -> str:
    """A Block Kit Builder link: the builder reads the JSON from the URL fragment (a view, or {"blocks": …})."""
    what, body = surface
    shown = body if what == "view" else {"blocks": body["blocks"]}
    return BUILDER + quote(json.dumps(shown, separators=(",", ":")), safe="")


def preview(catalog: LoadedCatalog, model_key: str, kind: str = "form", *, as_json: bool = False) -> str:
    if kind == "list":
        return "\n".join(kinds(catalog, model_key))
    surface = build(catalog, model_key, kind)
    if as_json:
        return json.dumps(surface[1], indent=2, ensure_ascii=False)
    return builder_link(surface)


def problems(surface: Surface) -> list[str]:
    """What slack_sdk's Block Kit models refuse in one view or message (empty: valid)."""
    what, body = surface
    try:
        if what == "view":
            View(**body).validate_json()
            if len(body.get("blocks", [])) > 100:
                return [f"{len(body['blocks'])} blocks (a view holds at most 100)"]
        else:
            if len(body["blocks"]) > 50:
                return [f"{len(body['blocks'])} blocks (a message holds at most 50)"]
            for b in body["blocks"]:
                parsed = Block.parse(b)
                if parsed is None:
                    return [f"unknown block {b.get('type')!r}"]
                parsed.validate_json()
    except (SlackObjectFormationError, TypeError, KeyError, ValueError) as exc:
        return [str(exc)]
    return []


def validate_all_messages(catalog: LoadedCatalog) -> list[str]:
    """Every form and message of every model, checked; each problem names the model and the kind."""
    found: list[str] = []
    for model in catalog.models:
        for kind, make in _surfaces(catalog, model).items():
            try:
                surface = make()
            except Exception as exc:  # a catalogue the builder cannot use is a finding, not a crash
                found.append(f"{model.key} {kind}: could not be built: {exc}")
                continue
            found.extend(f"{model.key} {kind}: {p}" for p in problems(surface))
    return found
