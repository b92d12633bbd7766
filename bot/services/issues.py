"""Composing a request's GitLab issue: title, description from the model's template, labels, weight."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain.planning import Plan, PlannedMilestone
from bot.domain.routing import approving_team, co_owners, issue_labels, selected_options
from bot.domain.safe_text import gitlab_user_text, neutralise_quick_actions
from bot.domain.triage import score_request
from bot.gateways.gitlab import DESCRIPTION_MAX
from bot.store.models import Request


@dataclass(frozen=True)
class IssueDraft:
    title: str
    description: str
    labels: list[str]
    weight: int | None
    due_date: date | None = None  # the date the plan counts from: moving it in GitLab re-plans


def _typed(model: SupportModel, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Stored JSON answers back to dates and datetimes, by field type."""
    out = dict(answers)
    for f in model.fields:
        value = out.get(f.id)
        if isinstance(value, str) and f.type == "date":
            out[f.id] = date.fromisoformat(value)
        elif isinstance(value, str) and f.type == "datetime":
            out[f.id] = datetime.fromisoformat(value)
    return out


def _for_gitlab(value: Any, *, field_type: str, names: Mapping[str, str], zone: ZoneInfo) -> Any:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        return f"{value:%Y-%m-%d %H:%M} UTC ({local:%Y-%m-%d %H:%M} {zone.key}, the requester's time)"
    if isinstance(value, date):
        return value.isoformat()
    if field_type in ("user", "users"):
        people = [value] if isinstance(value, str) else value
        shown = [gitlab_user_text(names.get(p, p)) for p in people]
        return shown[0] if field_type == "user" else shown
    if isinstance(value, list):
        return [gitlab_user_text(str(v)) for v in value]
    if isinstance(value, str):
        return gitlab_user_text(value)
    return value


def compose_issue(
    catalog: LoadedCatalog,
    model: SupportModel,
    request: Request,
    *,
    names: Mapping[str, str],
    zone: ZoneInfo,
    plan: Plan | None,
    source_url: str | None = None,
) -> IssueDraft:
    """Render the model's template; every user-written value is made safe for GitLab first."""
    answers = _typed(model, request.answers)
    types = {f.id: f.type for f in model.fields}
    shown = {k: _for_gitlab(v, field_type=types.get(k, "text"), names=names, zone=zone) for k, v in answers.items()}
    # Optional fields the requester skipped render as empty, not as template errors.
    for f in model.fields:
        shown.setdefault(f.id, [] if f.type in ("users", "multi_select", "urls") else "")
    options = selected_options(model, answers)
    triage = score_request(model.triage, answers, catalog.expression) if model.triage else None
    milestones = [
        {"key": m.key, "title": m.title, "due_on": m.due_on.isoformat(), "done": m.done_at is not None}
        for m in request.milestones
    ]
    context = {
        "answers": shown,
        "options": options,
        "requester": gitlab_user_text(names.get(request.requester_id, request.requester_id)),
        "co_owners": [gitlab_user_text(names.get(p, p)) for p in co_owners(model, answers, request.requester_id)],
        "approving_team": approving_team(model, answers),
        "milestones": milestones,
        "plan": {"compressed": bool(plan and plan.compressed) or request.plan_compressed,
                 "warning": (plan.warning if plan else None) or "This plan was compressed: late steps are due now."},
        "triage": triage,
        "request_id": request.public_id,
    }
    body = catalog.render(model.template_for(answers), context)
    if source_url:  # opened with the message shortcut: where the conversation started
        body = body.rstrip() + f"\n\n---\nOpened from a Slack message: {gitlab_user_text(source_url)}\n"
    # Belt and braces: no rendered line, whoever wrote it, may start a quick action.
    body = neutralise_quick_actions(body).rstrip() + f"\n\n<!-- {request.marker} -->\n"
    if len(body) > DESCRIPTION_MAX:
        raise ValueError(f"issue description would be {len(body):,} characters; GitLab allows {DESCRIPTION_MAX:,}")
    extra = [triage.label] if triage and triage.label else []
    return IssueDraft(
        title=request.title,
        description=body,
        labels=issue_labels(model, answers, default_labels=catalog.catalog.default_labels, extra=extra),
        weight=triage.weight if triage else None,
        due_date=request.anchor_date,
    )


def plan_of(request: Request) -> list[PlannedMilestone]:
    return [PlannedMilestone(m.key, m.title, m.due_on, m.done_at is not None, m.pulled_forward)
            for m in request.milestones]
