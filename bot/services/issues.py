"""Composing a request's GitLab issue: title, description from the model's template, labels, weight."""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.catalog import FieldSpec, LoadedCatalog, SupportModel
from bot.domain.planning import Plan, PlannedMilestone, plan_milestones
from bot.domain.routing import approving_team, co_owners, issue_labels, selected_options
from bot.domain.safe_text import gitlab_last_pass, gitlab_user_text, one_line
from bot.domain.scoring import score_request
from bot.domain.validation import anchor_of, to_json
from bot.gateways.gitlab import DESCRIPTION_MAX
from bot.store.models import Milestone, Request


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
    project_template: str | None = None,
) -> IssueDraft:
    """Render the model's template; every user-written value is made safe for GitLab first.

    `project_template`: the L&D project's own description template of this name (bot/services/project_templates.py).
    Its text, the team's, is the body as the team wrote it (its quick actions included); the rendered template,
    made safe as always, follows in learnbot's own section with the marker."""
    answers = _typed(model, request.answers)
    types = {f.id: f.type for f in model.fields}
    shown = {k: _for_gitlab(v, field_type=types.get(k, "text"), names=names, zone=zone) for k, v in answers.items()}
    # Optional fields the requester skipped render as empty, not as template errors.
    for f in model.fields:
        shown.setdefault(f.id, [] if f.type in ("users", "multi_select", "urls") else "")
    options = selected_options(model, answers)
    triage = score_request(model.triage, answers, catalog.expression,
                              field_ids=[f.id for f in model.fields]) if model.triage else None
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
        # The answer to the catalogue's outcome question (the `_outcome.md.j2` partial), made safe like the rest.
        "outcome": shown.get(model.outcome_field, "") if model.outcome_field else "",
    }
    body = catalog.render(model.template_for(answers), context)
    if source_url:  # opened with the message shortcut: where the conversation started
        body = body.rstrip() + f"\n\n---\nOpened from a Slack message: {gitlab_user_text(source_url)}\n"
    # Belt and braces: no rendered line, whoever wrote it, may start a quick action or mention everyone.
    body = gitlab_last_pass(body).rstrip()
    if project_template is not None:
        body = project_template.rstrip() + "\n\n" + _learnbot_section(body)
    body += f"\n\n<!-- {request.marker} -->\n"
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


_HEADING = re.compile(r"^(#{1,5}) ", re.MULTILINE)
LEARNBOT_SECTION = "## From learnbot"


def _learnbot_section(rendered: str) -> str:
    """learnbot's answers and plan below the team's template: one heading of its own, the rendered template's
    headings one level down so that they sit inside it."""
    inner = _HEADING.sub(lambda m: "#" + m.group(1) + " ", rendered)
    return ("---\n\n" + LEARNBOT_SECTION + "\n\n"
            "<!-- Written by learnbot from the request in Slack; the text above is the project's own template. -->\n\n"
            + inner)


def plan_of(request: Request) -> list[PlannedMilestone]:
    return [PlannedMilestone(m.key, m.title, m.due_on, m.done_at is not None, m.pulled_forward)
            for m in request.milestones]


def issue_title(catalog: LoadedCatalog, model: SupportModel, answers: Mapping[str, Any]) -> str:
    """The issue's title from the model's `issue_title` template and the requester's typed answers."""
    context = {"answers": {k: one_line(str(v), 200) for k, v in answers.items()},
               "options": {k: ({"label": v.label} if not isinstance(v, list) else [{"label": o.label} for o in v])
                           for k, v in selected_options(model, answers).items()}}
    return one_line(catalog.render_string(model.issue_title, context), 255)


# --- rehearsal: every template of every model rendered with made-up answers, before start -----------

_SAMPLE_PEOPLE = ("U0SAMPLE1", "U0SAMPLE2")


def _sample(f: FieldSpec, *, choice: Mapping[str, str], today: date, full: bool) -> Any:
    """A valid answer of the field's type (typed, as validation returns it)."""
    match f.type:
        case "text":
            if f.min_items:
                return ", ".join(f"item {i + 1}" for i in range(f.min_items))
            return "Sample answer"[: f.max_length or None]
        case "long_text":
            return ("First line\nSecond line" if full else "One line")[: f.max_length or None]
        case "url":
            return "https://handbook.gitlab.com/handbook/sample/"
        case "urls":
            urls = ["https://handbook.gitlab.com/handbook/sample/", "https://handbook.gitlab.com/handbook/other/"]
            return urls if full else urls[:1]
        case "date":
            return today + timedelta(days=60)
        case "datetime":
            return datetime.combine(today + timedelta(days=60), time(15, 0), tzinfo=UTC)
        case "select":
            return choice.get(f.id, f.options[0].value if full else f.options[-1].value)
        case "multi_select":
            return [o.value for o in f.options] if full else [f.options[0].value]
        case "user":
            return _SAMPLE_PEOPLE[0]
        case "users":
            return list(_SAMPLE_PEOPLE) if full else [_SAMPLE_PEOPLE[0]]
        case "number":
            low = f.min_value if f.min_value is not None else 1
            return low if not full or f.max_value is None else f.max_value
        case "yes_no":
            return full
    raise AssertionError(f"no sample for field type {f.type}")


def sample_answers(model: SupportModel, *, choice: Mapping[str, str], today: date, full: bool) -> dict[str, Any]:
    """Answers to the fields a requester would see for these select choices: every one (full), or only the
    required ones with the other extreme of each value (not full)."""
    answers: dict[str, Any] = {}
    selects = {f.id: _sample(f, choice=choice, today=today, full=full) for f in model.fields if f.type == "select"}
    for f in model.visible_fields(selects):
        if full or f.required:
            answers[f.id] = selects.get(f.id) if f.type == "select" else _sample(f, choice=choice, today=today,
                                                                               full=full)
    return answers


def _sample_request(model: SupportModel, answers: Mapping[str, Any], *, today: date, compressed: bool,
                    ) -> tuple[Request, Plan | None]:
    anchor = anchor_of(model, answers, UTC)
    plan = None
    request = Request(id=0, public_id="0" * 32, support_model=model.key, requester_id="U0SAMPLE0",
                      title="Sample request", answers=to_json(answers), anchor_date=anchor,
                      plan_compressed=compressed, created_at=datetime.combine(today, time(9), tzinfo=UTC))
    if model.plan is not None and anchor is not None:
        # A compressed plan (some steps due at once, with its warning) is the other branch of _plan.md.j2.
        planned_from = anchor - timedelta(days=3) if compressed else today
        plan = plan_milestones(model.plan, anchor, planned_from)
        request.milestones = [
            Milestone(key=m.key, title=m.title, position=i, due_on=m.due_on, pulled_forward=m.pulled_forward,
                      done_at=request.created_at if (m.done or i % 2) else None)
            for i, m in enumerate(plan.milestones)
        ]
    return request, plan


def where_in_template(exc: BaseException) -> str:
    """The template file and line a Jinja2 error was raised at (Jinja rewrites its traceback so)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if frames:
        last = frames[-1]
        return f" at {last.filename.rsplit('/', 1)[-1]} line {last.lineno}"
    lineno = getattr(exc, "lineno", None)
    name = getattr(exc, "name", None) or getattr(exc, "filename", None)
    return f" at {name} line {lineno}" if lineno and name else ""


def rehearse(catalog: LoadedCatalog, *, today: date) -> list[str]:
    """Render every model's issue title and every template it can choose (each option of each select,
    with every field answered and with only the required ones), as filing would. Returns the problems,
    one line each; an empty list means every request the forms accept can be filed."""
    problems: list[str] = []
    for model in catalog.models:
        variants: list[tuple[dict[str, str], bool]] = [({}, True), ({}, False)]
        for f in model.fields:
            if f.type == "select":
                variants += [({f.id: o.value}, True) for o in f.options]
                variants += [({f.id: o.value}, False) for o in f.options]
        seen: set[str] = set()
        for choice, full in variants:
            answers = sample_answers(model, choice=choice, today=today, full=full)
            chosen = dict(choice)
            if model.template_field and model.template_field in answers:
                chosen.setdefault(model.template_field, answers[model.template_field])
            where = ", ".join([*(f"{k}={v}" for k, v in chosen.items()),
                               "every field answered" if full else "only required fields"])
            try:
                issue_title(catalog, model, answers)
                request, plan = _sample_request(model, answers, today=today, compressed=not full)
                names = {p: f"Sample Person {p[-1]}" for p in (request.requester_id, *_SAMPLE_PEOPLE)}
                compose_issue(catalog, model, request, names=names, zone=ZoneInfo("UTC"), plan=plan)
            except Exception as exc:
                message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                line = (f"models[{model.key}]: its issue cannot be rendered with sample answers ({where})"
                        f"{where_in_template(exc)}: {message}")
                if message not in seen:  # one line per distinct fault, not one per variant
                    seen.add(message)
                    problems.append(line)
    return problems
