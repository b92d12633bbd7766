"""`learnbot preview MODEL [--message KIND]`: what a form or a message looks like before it is live.

Every surface is built by the same pure builders learnbot uses (bot/messages), from the
configured catalogue and sample answers, so an editor sees the changed catalogue exactly as people
will. `validate_all_messages` checks every one of them with slack_sdk's Block Kit models (what
`learnbot check` runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.catalog import LoadedCatalog
from bot.catalog.schema import SupportModel
from bot.domain.after_launch import FollowUp
from bot.domain.decisions import Capacity, Route, State, Verb
from bot.domain.planning import plan_milestones
from bot.domain.turns import LikelyWeek
from bot.messages import (
    after_launch,
    decisions,
    digest,
    feedback,
    forms,
    home,
    named,
    notices,
    reminders,
    report,
    settings,
    shortcuts,
    turns,
    workflow,
)
from bot.store.models import RequestStatus

BUILDER = "https://app.slack.com/block-kit-builder/#"
# A fixed, far-off weekday, so a preview never depends on the day it is made.
SAMPLE_TODAY = date(2030, 1, 7)
SAMPLE_ANCHOR = SAMPLE_TODAY + timedelta(days=364)  # far enough for any plan: nothing pulled forward
SAMPLE_ISSUE = "https://gitlab.example.com/learning/requests/-/issues/42"
SAMPLE_WHEN = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
SAMPLE_SIMILAR = [  # the same need from two other teams (docs/similar-requests.md)
    decisions.SimilarRef(iid=12, url=SAMPLE_ISSUE.replace("/42", "/12"), team="Sales"),
    decisions.SimilarRef(iid=31, url=SAMPLE_ISSUE.replace("/42", "/31"), team="Support <& friends>"),
]
SAMPLE_WEEK = LikelyWeek(SAMPLE_TODAY + timedelta(days=35))  # a Monday, five weeks on


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


def _card(model: SupportModel, sample: _SampleRequest, catalog: LoadedCatalog) -> decisions.RequestCard:
    return decisions.RequestCard(
        request_id=sample.id, version=1, title=sample.title, model_name=model.name, requester="U0SAMPLE",
        route=Route(scope="ld", team="L&D", lxp=False), state=State.NEW.value,
        capacity=Capacity(3, catalog.catalog.capacity), url=SAMPLE_ISSUE, iid=sample.gitlab_iid,
        dates=[(m.title, m.due_on) for m in sample.milestones[:3]])


def _line(model: SupportModel, sample: _SampleRequest, step: str, due: date) -> home.RequestLine:
    return home.RequestLine(request_id=sample.id, title=sample.title, url=SAMPLE_ISSUE, model_name=model.name,
                            requester_id="U0SAMPLE", status=RequestStatus.OPEN, created_at=SAMPLE_WHEN,
                            when=SAMPLE_ANCHOR, next_step=step, next_due=due, has_plan=bool(sample.milestones),
                            likely=turns.turn_text(SAMPLE_WEEK, SAMPLE_TODAY))


def _surfaces(catalog: LoadedCatalog, model: SupportModel) -> dict[str, Callable[[], Surface]]:
    """Every surface learnbot shows people (tests/ops/test_preview.py: one kind for each builder in bot/messages)."""
    sample = _sample(model)
    step, due = _first_step(model)
    plan = plan_milestones(model.plan, SAMPLE_ANCHOR, SAMPLE_TODAY) if model.plan is not None else None
    card = _card(model, sample, catalog)
    mine = home.Bounded([_line(model, sample, step, due)], 1)
    overdue = home.Bounded([home.OverdueStep(request_id=sample.id, request_title=sample.title, url=SAMPLE_ISSUE,
                                             model_name=model.name, step=step, due_on=SAMPLE_TODAY,
                                             owners=("U0SAMPLE",))], 1)
    item = digest.DigestItem(title=sample.title, url=SAMPLE_ISSUE, model_name=model.name, requester_id="U0SAMPLE",
                             when=SAMPLE_ANCHOR, step=step)
    return {
        "form": lambda: ("view", forms.request_modal(model, requester="U0SAMPLE")),
        "saved": lambda: ("view", forms.request_saved_view(model, title=sample.title, plan=plan)),
        "model-gone": lambda: ("view", forms.model_gone_view(model.key)),
        "help": lambda: _message(forms.help_message(catalog)),
        "filed": lambda: _message(notices.request_filed(sample, model)),
        "filing-delayed": lambda: _message(notices.filing_delayed(sample.title)),
        "filing-failed": lambda: _message(notices.filing_failed(sample.title, "GitLab answered 403: forbidden")),
        "filing-failed-admins": lambda: _message(notices.filing_failed_for_admins(
            title=sample.title, request_id=sample.id, model=model.key, requester="U0SAMPLE",
            error="GitLab answered 403: forbidden", by_gitlab=True)),
        "notice": lambda: _message(notices.notice("Sent to L&D: the issue link follows here.")),
        "records-unreadable": lambda: _message(notices.records_unreadable()),
        "closed": lambda: _message(notices.request_closed(sample.title, closed_by="U0SAMPLE")),
        "issue-changed": lambda: _message(notices.issue_changed(
            title=sample.title, url=SAMPLE_ISSUE, lines=["Labels: +in-progress", "Due date moved to 2030-03-01"])),
        "reminder": lambda: _message(reminders.reminder_message(
            reminder_id=1, step=step, due_on=due, request_title=sample.title, issue_url=SAMPLE_ISSUE, late=False)),
        "reminder-late": lambda: _message(reminders.reminder_message(
            reminder_id=1, step=step, due_on=due, request_title=sample.title, issue_url=SAMPLE_ISSUE, late=True)),
        "change-date": lambda: ("view", forms.change_date_modal(
            request_id=sample.id, request_title=sample.title, field_label="Launch date", field_type="date",
            current=SAMPLE_ANCHOR)),
        "replanned": lambda: ("view", forms.replanned_view(sample.title, sample.milestones)),
        "replanned-error": lambda: ("view", forms.replanned_error_view("This request is closed.")),
        "home": lambda: ("view", home.home_view(catalog, mine=mine, today=SAMPLE_TODAY, queue=mine, overdue=overdue,
                                                capacity=Capacity(3, catalog.catalog.capacity).text())),
        "home-unavailable": lambda: ("view", home.home_unavailable_view()),
        "mine": lambda: _message(home.mine_message(mine, SAMPLE_TODAY)),
        "digest": lambda: _message(digest.digest_message(digest.Digest(
            heading="L&D digest", sections=[digest.DigestSection(key="new", title="New requests", items=[item])]))),
        "triage": lambda: _message(decisions.deciders_message(card)),
        "triage-similar": lambda: _message(decisions.deciders_message(replace(card, similar=SAMPLE_SIMILAR))),
        "triage-similar-linked": lambda: _message(decisions.deciders_message(replace(card, similar=[
            replace(ref, linked=True) for ref in SAMPLE_SIMILAR]))),
        "decide": lambda: ("view", decisions.decision_modal(card, Verb.DECLINE)),
        "decided": lambda: ("view", decisions.decided_view("Declined; the requester is told.")),
        "decision-notice": lambda: _message(decisions.requester_notice(
            title=sample.title, url=SAMPLE_ISSUE, state=State.NEEDS_INFO.value, decider="U0SAMPLE",
            reason="Who is the audience?", request_id=sample.id, version=1)),
        "decision-waitlisted": lambda: _message(decisions.requester_notice(
            title=sample.title, url=SAMPLE_ISSUE, state=State.WAITLISTED.value, decider="U0SAMPLE",
            reason="We are full until March.", request_id=sample.id, version=1, waitlist_place=3,
            likely=turns.turn_text(SAMPLE_WEEK, SAMPLE_TODAY))),
        "waitlist-moved": lambda: _message(decisions.waitlist_moved(
            sample.title, 2, likely=turns.turn_text(SAMPLE_WEEK, SAMPLE_TODAY))),
        "likely-week-moved": lambda: _message(turns.likely_week_moved(
            title=sample.title, url=SAMPLE_ISSUE, likely=SAMPLE_WEEK, was=SAMPLE_TODAY + timedelta(days=21),
            today=SAMPLE_TODAY)),
        "assignee-not-set": lambda: _message(decisions.assignee_not_set(
            title=sample.title, url=SAMPLE_ISSUE, username="jdoe", why="find user: GitLab answered 403")),
        "named": lambda: _message(named.named_notice(request_id=sample.id, title=sample.title, model_name=model.name,
                                                     requester="U0SAMPLE", as_what="Co-owners", url=SAMPLE_ISSUE)),
        "stepped-out": lambda: _message(named.stepped_out_view(sample.title)),
        "stepped-out-requester": lambda: _message(named.stepped_out_notice(title=sample.title, who="U0SAMPLE")),
        "reply": lambda: ("view", decisions.reply_modal(request_id=sample.id, version=1, title=sample.title,
                                                     question="Who is the audience?")),
        "chooser": lambda: ("view", shortcuts.chooser_modal(catalog.models, preview="Can we get a course on …")),
        "message-gone": lambda: ("view", shortcuts.message_gone_view()),
        "sent": lambda: _message(shortcuts.sent_confirmation(sample.title)),
        "thread-reply": lambda: _message(shortcuts.thread_reply(sample.title, SAMPLE_ISSUE)),
        "settings": lambda: ("view", settings.settings_modal(
            zone="Europe/Berlin", zone_country="DE", sharing=("DE",), country="DE", hour=9, team_hour=9,
            paused_through=None)),
        "settings-saved": lambda: ("view", settings.settings_saved_view(
            country="DE", hour=9, paused_through=SAMPLE_TODAY + timedelta(days=14), moved=2)),
        "follow-up": lambda: _message(after_launch.follow_up_message(
            reminder_id=1, step="Send the follow-up", request_title=sample.title, issue_url=SAMPLE_ISSUE)),
        "follow-up-form": lambda: ("view", after_launch.follow_up_modal(
            reminder_id=1, request_title=sample.title, recorded=True)),
        "follow-up-thanks": lambda: ("view", after_launch.follow_up_thanks_view(sample.title)),
        "review": lambda: _message(after_launch.review_message(
            reminder_id=1, request_title=sample.title, issue_url=SAMPLE_ISSUE, interval="6 months")),
        "review-answered": lambda: _message(after_launch.outcome_message(
            request_title=sample.title, issue_url=SAMPLE_ISSUE, what="still accurate", actor="U0SAMPLE")),
        "after-launch-note": lambda: ("view", after_launch.message_view(sample.title, "Thanks, noted.")),
        "ld-follow-up": lambda: _message(after_launch.ld_follow_up(
            request_title=sample.title, issue_url=SAMPLE_ISSUE, who="U0SAMPLE",
            answers=FollowUp(attendance=42, recording_url="https://example.com/rec", notes="Went well."))),
        "ld-retire": lambda: _message(after_launch.ld_retire(request_title=sample.title, issue_url=SAMPLE_ISSUE,
                                                             who="U0SAMPLE")),
        "report": lambda: _message(report.report_summary(_sample_report(model.key), title="L&D report — December 2029",
                                                         names={model.key: model.name})),
        "report-coming": lambda: _message(report.report_coming("December 2029")),
        "report-refused": lambda: _message(report.report_refused()),
        "outcome-checkin": lambda: _message(feedback.checkin_message(
            checkin_id=1, request_title=sample.title, issue_url=SAMPLE_ISSUE, after_days=30,
            expected="New hires open fewer onboarding questions, counted in the help channel.")),
        "outcome-checkin-nudge": lambda: _message(feedback.checkin_message(
            checkin_id=1, request_title=sample.title, issue_url=SAMPLE_ISSUE, after_days=90, expected=None,
            nudge=True)),
        "outcome-answered": lambda: _message(feedback.checkin_answered(
            request_title=sample.title, issue_url=SAMPLE_ISSUE, after_days=30, answer="partly",
            note="Fewer questions, but only in one team so far.", actor="U0SAMPLE")),
        "satisfaction": lambda: _message(feedback.satisfaction_message(
            rating_id=1, request_title=sample.title, issue_url=SAMPLE_ISSUE)),
        "workflow-form": lambda: _message(workflow.form_dm(model, title=sample.title, step_id=1)),
        "workflow-step-done": lambda: ("view", workflow.step_done_view()),
        "workflow-form-prefilled": lambda: ("view", forms.request_modal(
            model, requester="U0SAMPLE", initial={model.fields[0].id: sample.title}, workflow=1)),
        "satisfaction-answered": lambda: _message(feedback.satisfaction_answered(
            request_title=sample.title, issue_url=SAMPLE_ISSUE, rating=4, comment="Quick and clear.",
            actor="U0SAMPLE")),
    }


def _sample_report(key: str) -> dict[str, Any]:
    """A report with a little of everything (bot.domain.report's sections over a few rows)."""
    from bot.domain import report as rules

    at = SAMPLE_WHEN - timedelta(days=10)
    got = [rules.Received(1, key, ("Partners",), at), rules.Received(2, key, (), at)]
    made = [rules.DecisionRow(1, key, "declined", SAMPLE_WHEN, "Out of scope <for now>", at, True, 5)]
    one = {"from": "2029-12-01", "to": "2029-12-31", "received": rules.received(got),
           "decisions": rules.decisions(made), "launches": rules.launches([], ZoneInfo("UTC")),
           "milestones": rules.milestones([]), "reviews": rules.reviews(rules.Reviews(1, 1, 0)),
           "capacity": rules.capacity([rules.TeamRow("L&D", 8, 3, (at,))], end=SAMPLE_WHEN),
           "outcomes": {"happened": 1, "partly": 0, "not_yet": 0, "not_relevant": 0},
           "satisfaction": {"responses": 2, "mean": 4.5}, "similar": [[1, 2]]}
    return {**one, "previous": {**one, "from": "2029-11-01", "to": "2029-11-30"}}


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
