"""The Workflow Builder step "Request L&D support" (§17): from a `function_executed` event to the step's end.

The listener only stores the event (`received`) and wakes the step; everything else is owed work of
the one runner (bot/store/workflow.py's phases). When the workflow's inputs are enough for the model's
form, the request is stored through IntakeService (the modal's validation) and filed; otherwise the
requester gets a DM whose button opens the form pre-filled, and the step goes on when it is submitted.
Slack is told once, with the event's own token: functions.completeSuccess once the issue exists
(request_id, issue_url, first_due), or functions.completeError naming what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.catalog import LoadedCatalog
from bot.domain import workflow as rules
from bot.gateways.slack import SlackFailure, SlackGateway, SlackSetupWrong, SlackUnavailable
from bot.messages import forms
from bot.messages import workflow as messages
from bot.services.filing import FilingService
from bot.services.intake import IntakeService
from bot.services.notices import NoticeService, slack_outcome
from bot.services.people import PeopleService, profile_of
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, Wait, run_now
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import Job, JobKind, Milestone, Person, Request, RequestStatus
from bot.store.workflow import CHECK, FAIL, FILING, FORM, WORKFLOW_STEPS, WorkflowStep

log = logging.getLogger(__name__)
KIND = "workflow_step"
MAX_ATTEMPTS = 20
FORM_WAIT = timedelta(days=14)  # the requester has this long to send the form; then the step ends with an error
FORM_LOOK_EVERY = timedelta(hours=6)  # a step waiting for its form is looked at (for FORM_WAIT) this often
ISSUE_LOOK_EVERY = timedelta(seconds=30)  # a stored request's issue not there yet: looked for again
# Slack's answers to a completion: already completed (an earlier try's answer was lost), or never can be.
ALREADY = frozenset({"execution_not_in_running_state"})
NEVER = frozenset({"function_execution_not_found", "parameter_validation_failed", "invalid_auth", "token_expired",
                   "token_revoked", "not_allowed_token_type", "invalid_arguments"})


@dataclass(frozen=True)
class _Step:
    execution_id: str
    token: str | None = field(repr=False)  # a secret: never in a log line, even a snapshot's
    requester: str = ""
    model_key: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    phase: str = CHECK
    error: str | None = None
    request_id: int | None = None
    created_at: datetime | None = None


def _snapshot(row: WorkflowStep) -> _Step:
    return _Step(row.execution_id, row.token, row.requester_id, row.support_model, dict(row.inputs or {}),
                 row.phase, row.error, row.request_id, row.created_at)


class WorkflowService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, people: PeopleService,
                 intake: IntakeService, filing: FilingService, notices: NoticeService,
                 announce: Callable[[int, datetime], None] | None = None):
        self.db = db
        self.catalog = catalog
        self.slack = slack
        self.people = people
        self.intake = intake
        self.filing = filing
        self.notices = notices
        self.announce = announce  # the deciders' message and "you were named", as after a modal's submission
        self.handler = Kind(KIND, WORKFLOW_STEPS, self._work, take=_snapshot, max_attempts=MAX_ATTEMPTS,
                            part="workflow steps")
        self.handlers = [self.handler]

    # --- on the answering thread: local only ----------------------------------------------------

    def received(self, event: Mapping[str, Any], *, now: datetime) -> int | None:
        """Store a function_executed event (a redelivery finds the first row); its step's id, or None."""
        execution_id = event.get("function_execution_id")
        token = event.get("bot_access_token")
        given = event.get("inputs")
        inputs: dict[str, Any] = given if isinstance(given, dict) else {}
        if not isinstance(execution_id, str) or not execution_id or len(execution_id) > 55 \
                or not isinstance(token, str) or not token:
            log.warning("function_executed without an execution id or its token: ignored")
            return None
        existing = self._step_of(execution_id)
        if existing is not None:
            return existing
        try:
            with self.db.session() as s:
                row = WorkflowStep(execution_id=execution_id, token=token, inputs=_plain(inputs), phase=CHECK,
                                   requester_id=rules.text_input(inputs.get("requester"), 64),
                                   support_model=rules.text_input(inputs.get("support_model"), 80),
                                   due_at=now, created_at=now)
                s.add(row)
                s.flush()
                step_id = row.id
        except IntegrityError:  # the same delivery stored by another thread a moment ago
            return self._step_of(execution_id)
        log.info("workflow step %s stored (execution %s)", step_id, execution_id)
        return step_id

    def _step_of(self, execution_id: str) -> int | None:
        with self.db.session() as s:
            return s.scalars(select(WorkflowStep.id).where(WorkflowStep.execution_id == execution_id)).first()

    def form_for(self, step_id: int, *, user_id: str) -> dict[str, Any]:
        """The model's form pre-filled with what the workflow gave (the DM's button), or a note if it is done."""
        with self.db.session() as s:
            row = s.get(WorkflowStep, step_id)
            if row is None or row.requester_id != user_id or row.phase != FORM or row.finished_at or row.failed_at:
                return messages.step_done_view()
            key, inputs = row.support_model, dict(row.inputs or {})
        model = self.catalog.model(key)
        if model is None:
            return forms.model_gone_view(key)
        return forms.request_modal(model, requester=user_id, initial=rules.prefill(model, inputs), workflow=step_id)

    def attach(self, step_id: int, *, user_id: str, request_id: int, now: datetime) -> bool:
        """The form opened from the step's DM was stored as `request_id`: the step now waits for its issue."""
        with self.db.session() as s:
            row = WORKFLOW_STEPS.hold(s, step_id)
            if row is None or row.requester_id != user_id or row.phase != FORM or row.finished_at or row.failed_at:
                return False
            row.phase, row.request_id, row.due_at = FILING, request_id, now
            # A worker holding the row now (its 6-hourly look) sees attempts changed: it runs again, not put off.
            row.attempts = 0
        return True

    # --- after the answer -----------------------------------------------------------------------

    def run(self, step_id: int, *, now: datetime) -> None:
        """Work the step straight away (the worker's pass does it otherwise)."""
        run_now(self.db, self.handler, step_id, now=now)

    def _work(self, claim: Claim, now: datetime) -> Outcome:
        c: _Step = claim.data
        if c.token is None:
            return GiveUp("the workflow's token is gone")
        if c.phase == CHECK:
            return self._check(claim.id, c, now)
        if c.phase == FORM:
            if c.created_at is not None and now - c.created_at > FORM_WAIT:
                return self._fail(claim.id, c, rules.error_text(
                    f"The requester did not send the form within {FORM_WAIT.days} days."), now)
            return Wait(now + FORM_LOOK_EVERY, "waiting for the requester's form")
        if c.phase == FILING:
            return self._when_filed(claim.id, c, now)
        return self._tell_error(c, c.error or "The request could not be filed.", now)

    def _check(self, step_id: int, c: _Step, now: datetime) -> Outcome:
        model = self.catalog.model(c.model_key)
        if model is None:
            return self._fail(step_id, c, rules.unknown_model(c.model_key, self.catalog.catalog.keys), now)
        try:
            why = self._not_a_person(c.requester, now)
        except (SlackUnavailable, SlackSetupWrong) as exc:
            return slack_outcome(exc, now=now)
        if why is not None:
            return self._fail(step_id, c, rules.not_a_person(c.requester, why), now)
        raw = rules.answers_from(model, c.inputs, requester=c.requester)
        submitted = self.intake.submit(model.key, raw, user_id=c.requester, view_id=f"workflow:{c.execution_id}",
                                       now=now)
        if submitted.errors:
            text, blocks = messages.form_dm(model, title=str(c.inputs.get("title") or "")[:300], step_id=step_id)
            with self.db.session() as s:
                notice = outbox.enqueue(s, key=f"workflow-form:{step_id}", recipient=c.requester, text=text,
                                        blocks=blocks, due_at=now)
                notice_id = notice.id
                row = s.get(WorkflowStep, step_id)
                assert row is not None
                row.phase = FORM
            self.notices.send(notice_id, now=now)
            log.info("workflow step %s: the requester was sent the form (%s missing or wrong)", step_id,
                     ", ".join(sorted(submitted.errors)))
            return Wait(now + FORM_LOOK_EVERY, "waiting for the requester's form")
        assert submitted.request_id is not None
        with self.db.session() as s:
            row = s.get(WorkflowStep, step_id)
            assert row is not None
            row.phase, row.request_id = FILING, submitted.request_id
        if not submitted.duplicate:
            self.filing.file_now(submitted.request_id, now=now)
            if self.announce is not None:
                self.announce(submitted.request_id, now)
        return self._when_filed(step_id, _with(c, request_id=submitted.request_id), now)

    def _not_a_person(self, user_id: str, now: datetime) -> str | None:
        """Why `user_id` is no person learnbot can file for (None: a person), from the stored directory first."""
        if not rules.looks_like_user(user_id):
            return "is not a Slack user id"
        with self.db.session() as s:
            if s.get(Person, user_id) is not None:  # the directory keeps people only (no bots, no deactivated)
                return None
        member = self.slack.member(user_id)
        if member is None:
            return "is not a member of this workspace"
        if profile_of(member) is None:
            return "is a bot or a deactivated account"
        self.people.store_profiles([member], now=now)
        return None

    def _when_filed(self, step_id: int, c: _Step, now: datetime) -> Outcome:
        with self.db.session() as s:
            request = s.get(Request, c.request_id) if c.request_id is not None else None
            if request is None:
                return self._fail(step_id, c, "The request this step made is gone.", now)
            url, status = request.gitlab_url, request.status
            first = s.scalars(select(Milestone.due_on).where(Milestone.request_id == request.id)
                              .order_by(Milestone.position).limit(1)).first()
            why = s.scalars(select(Job.last_error).where(Job.kind == JobKind.FILE_ISSUE,
                                                         Job.request_id == request.id)).first()
        if url:
            return self._tell_success(c, rules.outputs(request_id=request.id, issue_url=url,
                                                       first_due=first or _anchor(request)), now)
        if status is RequestStatus.FAILED:
            return self._fail(step_id, c, rules.error_text(
                f"The request could not be filed in GitLab: {why or 'GitLab refused it'}."), now)
        return Wait(now + ISSUE_LOOK_EVERY, "the GitLab issue is being filed")

    def _fail(self, step_id: int, c: _Step, error: str, now: datetime) -> Outcome:
        """Owe completeError with `error` (kept, so a retry says the same), and try it now."""
        with self.db.session() as s:
            row = s.get(WorkflowStep, step_id)
            assert row is not None
            row.phase, row.error = FAIL, error
        return self._tell_error(c, error, now)

    # --- telling Slack, once ------------------------------------------------------------------------

    def _tell_success(self, c: _Step, outputs: dict[str, Any], now: datetime) -> Outcome:
        assert c.token is not None
        return self._tell(lambda: self.slack.complete_step(c.token or "", c.execution_id, outputs), "completed",
                          outputs["issue_url"], "success", now)

    def _tell_error(self, c: _Step, error: str, now: datetime) -> Outcome:
        return self._tell(lambda: self.slack.fail_step(c.token or "", c.execution_id, error), "failed the step",
                          error, "error", now)

    def _tell(self, call: Callable[[], None], said: str, detail: str, outcome: str, now: datetime) -> Outcome:
        try:
            call()
        except SlackFailure as exc:
            if exc.code in ALREADY:  # an earlier try reached Slack and its answer was lost: told once already
                return Done(f"{said} (already)", detail, record=lambda s, row: _told(row, outcome))
            if exc.code in NEVER:
                return GiveUp(f"Slack refused to end the workflow step: {exc.code}")
            if isinstance(exc, SlackUnavailable | SlackSetupWrong):
                return slack_outcome(exc, now=now)
            return GiveUp(str(exc))
        return Done(said, detail, record=lambda s, row: _told(row, outcome))


def _told(row: WorkflowStep, outcome: str) -> None:
    row.outcome = outcome


def _with(c: _Step, *, request_id: int) -> _Step:
    return _Step(c.execution_id, c.token, c.requester, c.model_key, c.inputs, c.phase, c.error, request_id,
                 c.created_at)


def _anchor(request: Request) -> date | None:
    return request.anchor_date


def _plain(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs kept: the step's own, each a string or a number (what a workflow's variables hold)."""
    keep = ("support_model", "requester", "title", "details", "needed_by")
    return {k: v if isinstance(v, int | float) and not isinstance(v, bool) else str(v)[:3000]
            for k, v in inputs.items() if k in keep and v is not None}
