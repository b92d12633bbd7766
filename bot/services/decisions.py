"""Decisions (§12): the deciders' message, decisions stored before Slack is answered, and what they owe.

A decision is one conditional UPDATE (`WHERE decision_version = <what the decider saw>`) plus a
history row with a unique (request, version), in the listener's transaction: two deciders racing,
or a click Slack delivers twice, make one decision. In the same transaction go the notices it owes
(the requester's DM, a thread reply) and two jobs: TRIAGE_MESSAGE updates the deciders' message in
place, DECISION_GITLAB writes the scoped label, the assignee and the notes. Both are claimed and
retried like every job; a note carries a hidden, signed marker (bot.domain.markers) looked up before a retry
writes it again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from bot import metrics
from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import decisions as rules
from bot.domain.decisions import Capacity, Route, State, Verb
from bot.domain.limits import too_far
from bot.domain.routing import co_owners, selected_options
from bot.domain.safe_text import gitlab_user_text
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable
from bot.gateways.slack import SlackGateway
from bot.messages import triage
from bot.messages.triage import RequestCard
from bot.services.named import tell_named
from bot.services.notices import NoticeService
from bot.services.reminders import ReminderService
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import DecisionEvent, Job, JobKind, Notice, Person, Request, RequestStatus, Usergroup

log = logging.getLogger(__name__)
KINDS = (JobKind.TRIAGE_MESSAGE, JobKind.DECISION_GITLAB)
GROUP_TTL = timedelta(minutes=10)
NOT_READY = timedelta(minutes=1)
LIVE = (RequestStatus.FILING, RequestStatus.OPEN)
DECISION_NOTE = "decision-event"  # the kind of marker (bot.domain.markers) a decision's note carries


def is_status_label(label: str) -> bool:
    return rules.scope_of(label) in (rules.LD_LABEL_SCOPE, rules.LXP_LABEL_SCOPE)


class DecisionRefused(Exception):
    """Not this person's decision, or not any more: the message says why (shown privately)."""


@dataclass
class Decided:
    """What the listener answers with, and the notices to send once Slack has its answer."""

    errors: dict[str, str] = field(default_factory=dict)
    refused: str | None = None
    confirmation: str = ""
    request_id: int | None = None
    notice_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class JobResult:
    request_id: int
    kind: JobKind
    outcome: str  # written, waiting, deferred, failed
    detail: str = ""


class DecisionService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, gitlab: GitLabGateway,
                 notices: NoticeService, reminders: ReminderService, admins: frozenset[str],
                 triage_channel: str | None):
        self.db = db
        self.catalog = catalog
        self.slack = slack
        self.gitlab = gitlab
        self.notices = notices
        self.reminders = reminders
        self.admins = admins
        self.triage_channel = triage_channel

    # --- routing -----------------------------------------------------------------------------

    def route_of(self, model: SupportModel | None, answers: dict[str, Any]) -> Route:
        if model is None:
            return Route(scope=rules.LD_SCOPE, team="L&D", lxp=False, capacity=self.catalog.catalog.capacity)
        return rules.route(model, answers, ld_capacity=self.catalog.catalog.capacity)

    def _channel(self, r: Route) -> str | None:
        return r.channel or self.triage_channel

    # --- filing ------------------------------------------------------------------------------

    def on_submitted(self, s: Session, request: Request, model: SupportModel, *, now: datetime) -> bool:
        """Called in the submission's transaction, before the request is written; True when the plan's
        reminders start now.

        A model that needs no decision, or a request with nowhere to be decided (no channel set),
        is accepted on filing and only announced.
        """
        r = self.route_of(model, request.answers)
        request.decision_scope = r.scope
        channel = self._channel(r)
        if not model.needs_decision or channel is None:
            request.decision_state = State.APPROVED if r.lxp else State.ACCEPTED
            request.decided_by, request.decided_at = "learnbot", now
        else:
            request.decision_state = State.NEW
        if channel is not None:
            s.flush()  # the request's id (the decision fields set above go into its INSERT)
            text, blocks = triage.triage_message(self._card(s, request, model, r))
            outbox.enqueue(s, key=f"triage:{request.id}", recipient=channel, text=text, blocks=blocks,
                           request_id=request.id, due_at=now)
            # Once the issue is filed, the message gets its link (and any decision made meanwhile),
            # and the issue its status label.
            jobs.enqueue_or_wake(s, kind=JobKind.TRIAGE_MESSAGE, request_id=request.id, due_at=now)
            jobs.enqueue_or_wake(s, kind=JobKind.DECISION_GITLAB, request_id=request.id, due_at=now)
        # The people it names hear it once, with a way to step out (one INSERT, none if it names nobody).
        # IntakeService.submit may make this call itself, right after this one.
        tell_named(s, request, model, now)
        return request.decision_state in rules.IN_PROGRESS

    def after_submit(self, request_id: int, *, now: datetime) -> None:
        """Post the deciders' message now rather than at the worker's next pass."""
        with self.db.session() as s:
            notice = s.scalars(select(Notice).where(Notice.key == f"triage:{request_id}")).first()
            notice_id = notice.id if notice else None
        if notice_id is not None:
            self.notices.send(notice_id, now=now)
            for kind in KINDS:  # the issue's link in the message, the status label on the issue
                self.run_for(request_id, kind, now=now)

    # --- the card ----------------------------------------------------------------------------

    def capacity(self, s: Session, r: Route) -> Capacity:
        count = s.scalar(select(func.count(Request.id)).where(
            Request.decision_scope == r.scope, Request.decision_state.in_([str(x) for x in rules.IN_PROGRESS]),
            Request.status.in_(LIVE)))
        return Capacity(int(count or 0), r.capacity)

    def waitlist(self, s: Session, scope: str) -> list[int]:
        return list(s.scalars(select(Request.id).where(
            Request.decision_scope == scope, Request.decision_state == State.WAITLISTED.value,
            Request.status.in_(LIVE)).order_by(Request.decided_at, Request.id)))

    def _card(self, s: Session, request: Request, model: SupportModel | None, r: Route | None = None) -> RequestCard:
        r = r or self.route_of(model, request.answers)
        answers = request.answers or {}
        impact = selected_options(model, answers).get("business_impact") if model else None
        dates: list[tuple[str, date]] = []
        if model is not None and model.plan is not None and request.anchor_date is not None:
            dates.append((model.field(model.plan.anchor).label, request.anchor_date))
        else:
            for f in (model.fields if model else ()):
                if f.type == "date" and answers.get(f.id):
                    with contextlib.suppress(ValueError):
                        dates.append((f.label, date.fromisoformat(str(answers[f.id]))))
        queue = self.waitlist(s, r.scope) if request.decision_state == State.WAITLISTED else []
        return RequestCard(
            request_id=request.id, version=request.decision_version, title=request.title,
            model_name=model.name if model else request.support_model, requester=request.requester_id, route=r,
            state=request.decision_state, capacity=self.capacity(s, r), url=request.gitlab_url,
            iid=request.gitlab_iid,
            business_impact=impact.label if impact is not None and not isinstance(impact, list) else (
                str(answers["business_impact"]) if answers.get("business_impact") else None),
            okr_url=str(answers["okr_url"]) if answers.get("okr_url") else None,
            impacted=str(answers["impacted_people"]) if answers.get("impacted_people") else None,
            score=request.triage_score, dates=dates, plan_compressed=request.plan_compressed,
            decided_by=request.decided_by, decided_at=request.decided_at, reason=request.decision_reason,
            waitlist_until=request.waitlist_until, waitlist_place=rules.waitlist_place(queue, request.id),
            needs_decision=model.needs_decision if model else True,
            closed=request.status is RequestStatus.CLOSED,
        )

    # --- who may decide ----------------------------------------------------------------------

    def refresh_group(self, usergroup: str, *, now: datetime, force: bool = False) -> list[str]:
        """The user group's members, from the cache when fresh (a network call: after the answer only)."""
        with self.db.session() as s:
            cached = s.get(Usergroup, usergroup)
            if cached is not None and not force and now - cached.refreshed_at < GROUP_TTL:
                return list(cached.members)
        members = self.slack.usergroup_members(usergroup)
        with self.db.session() as s:
            row = s.get(Usergroup, usergroup)
            if row is None:
                s.add(Usergroup(id=usergroup, members=members, refreshed_at=now))
            else:
                row.members, row.refreshed_at = members, now
        return members

    def _cached_members(self, s: Session, usergroup: str | None) -> list[str]:
        if usergroup is None:
            return []
        row = s.get(Usergroup, usergroup)
        return list(row.members) if row is not None else []

    @staticmethod
    def _refusal(r: Route) -> str:
        who = "L&D admins" if r.usergroup is None else f"L&D admins and {r.team}"
        return f"Only {who} can decide this request, so nothing was changed."

    @staticmethod
    def _owners(request: Request, model: SupportModel | None) -> list[str]:
        """Who the request is theirs: the requester and the people it names (co-owners, hosts)."""
        named = co_owners(model, request.answers or {}, request.requester_id) if model is not None else []
        return [request.requester_id, *named]

    @staticmethod
    def _own_request(r: Route) -> str:
        who = "another L&D admin" if r.usergroup is None else f"another L&D admin or someone in {r.team}"
        return (f"This is your own request (you made it or are named on it), so {who} decides it. "
                "Nothing was changed.")

    # --- a decider presses a button (after the answer: network allowed) ---------------------

    def open_decision(self, request_id: int, version: int, verb: Verb, *, user_id: str, trigger_id: str,
                      now: datetime) -> str | None:
        """Open the decision modal; or the reason why not (to show privately)."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                return "This request no longer exists."
            model = self.catalog.model(request.support_model)
            r = self.route_of(model, request.answers)
            owners = self._owners(request, model)
        # The group's members: to know whether this person decides, or whether anyone else can.
        members = self.refresh_group(r.usergroup, now=now) if r.usergroup and (
            user_id not in self.admins or user_id in owners) else []
        if not rules.may_decide(user_id, r, admins=self.admins, group_members=members):
            return self._refusal(r)
        if rules.deciding_own(user_id, owners, r, admins=self.admins, group_members=members):
            return self._own_request(r)
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            if request.status not in LIVE:
                return "This request is closed, so there is nothing to decide."
            if request.decision_version != version or verb not in rules.verbs(r, request.decision_state):
                return self._already(request)
            card = self._card(s, request, model, r)
            person = s.get(Person, user_id)
            known = person.gitlab_username if person else None
        self.slack.open_view(trigger_id, triage.decision_modal(card, verb, gitlab_username=known))
        return None

    @staticmethod
    def _already(request: Request) -> str:
        label = rules.STATE_LABEL.get(State(request.decision_state), request.decision_state)
        by = f" by <@{request.decided_by}>" if request.decided_by and request.decided_by[:1] in ("U", "W") else ""
        when = f" at {request.decided_at.strftime('%Y-%m-%d %H:%M')} UTC" if request.decided_at else ""
        return f"This request was already decided{by}{when}: *{label}*. Nothing was changed."

    # --- the modal is submitted (before the answer: local work only) --------------------------

    def decide(self, request_id: int, version: int, verb: Verb, *, user_id: str, text: str | None,
               until: date | None = None, gitlab_username: str | None = None, confirmed: bool = False,
               now: datetime) -> Decided:
        text = (text or "").strip() or None
        if verb in rules.TEXT_REQUIRED and not text:
            what = "question" if verb is Verb.ASK else "reason"
            return Decided(errors={"text": f"Please write the {what}: the requester reads it."})
        if text is not None and len(text) > triage.TEXT_MAX:
            return Decided(errors={"text": f"Please keep it under {triage.TEXT_MAX} characters."})
        username = (gitlab_username or "").strip().lstrip("@") or None
        if username is not None and not _gitlab_name_ok(username):
            return Decided(errors={"gitlab_username": "A GitLab username has letters, digits, '.', '_' or '-'."})
        if until is not None and until < now.date():
            return Decided(errors={"until": "Pick a date from today on, or leave it empty."})
        if until is not None and (refusal := too_far(until, now.date())) is not None:
            return Decided(errors={"until": refusal})
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            if request is None:
                return Decided(refused="This request no longer exists.")
            model = self.catalog.model(request.support_model)
            r = self.route_of(model, request.answers)
            members = self._cached_members(s, r.usergroup)
            if not rules.may_decide(user_id, r, admins=self.admins, group_members=members):
                return Decided(refused=self._refusal(r))
            if rules.deciding_own(user_id, self._owners(request, model), r, admins=self.admins,
                                  group_members=members):
                return Decided(refused=self._own_request(r))
            if request.status not in LIVE:
                return Decided(refused="This request is closed, so there is nothing to decide.")
            if request.decision_version != version or verb not in rules.verbs(r, request.decision_state):
                return Decided(refused=self._already(request))
            if verb is Verb.ACCEPT and not confirmed and self.capacity(s, r).full:
                cap = self.capacity(s, r)
                return Decided(errors={"text": f"{r.team} is at capacity ({cap.text()}): tick “Accept anyway” "
                                               "or choose Waitlist."})
            was_waitlisted = request.decision_state == State.WAITLISTED
            queue_before = self.waitlist(s, r.scope) if was_waitlisted else []
            state = rules.RESULT[verb]
            # The race guard: only the decider who saw the current version writes.
            moved: Any = s.execute(update(Request).where(
                Request.id == request_id, Request.decision_version == version,
            ).values(decision_state=state.value, decision_version=version + 1, decided_by=user_id, decided_at=now,
                     decision_reason=text, waitlist_until=until if state == State.WAITLISTED else None,
                     assignee_username=username if state == State.ACCEPTED else request.assignee_username,
                     updated_at=now).execution_options(synchronize_session=False))
            if moved.rowcount != 1:
                s.rollback()
                with self.db.session() as s2:
                    current = s2.get(Request, request_id)
                    assert current is not None
                    return Decided(refused=self._already(current))
            s.refresh(request)
            event = DecisionEvent(request_id=request_id, version=version + 1, kind="asked" if verb is Verb.ASK
                                  else "decided", state=state.value, actor=user_id, text=text, created_at=now)
            s.add(event)
            if username is not None:
                person = s.get(Person, user_id)
                if person is None:
                    s.add(Person(slack_user_id=user_id, gitlab_username=username, refreshed_at=now))
                else:
                    person.gitlab_username = username
            if state in rules.IN_PROGRESS and model is not None and not _has_reminders(request):
                self.reminders.plan_for(s, request, model)  # accepting work starts the plan's reminders
            s.flush()
            ids = self._owe(s, request, r, event, now=now)
            if state in rules.IN_PROGRESS:  # capacity changed: the team's other open messages show it
                self._wake_undecided(s, r.scope, now=now)
            if was_waitlisted:
                ids += self._tell_waitlist(s, r.scope, queue_before, now=now)
        metrics_label = state.value
        metrics.DECISIONS.labels(metrics_label).inc()
        label = rules.STATE_LABEL[state]
        return Decided(confirmation=f":white_check_mark: *{label}* — the requester is told, and GitLab follows.",
                       request_id=request_id, notice_ids=ids)

    def _owe(self, s: Session, request: Request, r: Route, event: DecisionEvent, *, now: datetime) -> list[int]:
        """The notices and jobs one history event owes, in its transaction."""
        ids: list[int] = []
        if event.kind != "answered":
            queue = self.waitlist(s, r.scope) if request.decision_state == State.WAITLISTED else []
            text, blocks = triage.requester_notice(
                title=request.title, url=request.gitlab_url, state=request.decision_state, decider=event.actor,
                reason=event.text, request_id=request.id, version=request.decision_version,
                waitlist_place=rules.waitlist_place(queue, request.id), waitlist_until=request.waitlist_until,
                team=r.team)
            ids.append(outbox.enqueue(s, key=f"decision:{request.id}:{event.version}", recipient=request.requester_id,
                                      text=text, blocks=blocks, request_id=request.id, due_at=now).id)
        thread = self._thread(s, request.id)
        if thread is not None:
            line = triage.history_line(kind=event.kind, state=event.state, actor=event.actor, text=event.text)
            ids.append(outbox.enqueue(s, key=f"history:{request.id}:{event.version}", recipient=thread[0],
                                      thread_ts=thread[1], text=line, request_id=request.id, due_at=now).id)
        jobs.enqueue_or_wake(s, kind=JobKind.TRIAGE_MESSAGE, request_id=request.id, due_at=now)
        jobs.enqueue_or_wake(s, kind=JobKind.DECISION_GITLAB, request_id=request.id, due_at=now)
        return ids

    def _wake_undecided(self, s: Session, scope: str, *, now: datetime) -> None:
        for rid in s.scalars(select(Request.id).where(
                Request.decision_scope == scope, Request.decision_state.in_([str(x) for x in rules.UNDECIDED]),
                Request.status.in_(LIVE))):
            jobs.enqueue_or_wake(s, kind=JobKind.TRIAGE_MESSAGE, request_id=rid, due_at=now)

    def _thread(self, s: Session, request_id: int) -> tuple[str, str] | None:
        posted = s.scalars(select(Notice).where(Notice.key == f"triage:{request_id}")).first()
        if posted is None or posted.slack_ts is None or posted.slack_channel is None:
            return None
        return posted.slack_channel, posted.slack_ts

    def _tell_waitlist(self, s: Session, scope: str, before: list[int], *, now: datetime) -> list[int]:
        """Whoever moved up the waitlist is told their new place, once per place."""
        ids = []
        for place, rid in enumerate(self.waitlist(s, scope), start=1):
            if rules.waitlist_place(before, rid) == place:
                continue
            other = s.get(Request, rid)
            assert other is not None
            text, blocks = triage.waitlist_moved(other.title, place)
            ids.append(outbox.enqueue(s, key=f"waitlist:{rid}:{place}", recipient=other.requester_id, text=text,
                                      blocks=blocks, request_id=rid, due_at=now).id)
        return ids

    # --- the requester answers ---------------------------------------------------------------

    def reply_form(self, request_id: int, version: int, *, user_id: str) -> dict[str, Any] | str:
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                return "This request no longer exists."
            if request.requester_id != user_id:
                return "Only the requester can answer this."
            if request.decision_version != version or request.decision_state not in rules.ASKING:
                return "This question was already answered or the request was decided meanwhile."
            return triage.reply_modal(request_id=request_id, version=version, title=request.title,
                                      question=request.decision_reason)

    def reply(self, request_id: int, version: int, *, user_id: str, text: str | None, now: datetime) -> Decided:
        text = (text or "").strip() or None
        if not text:
            return Decided(errors={"text": "Please write your answer."})
        if len(text) > triage.TEXT_MAX:
            return Decided(errors={"text": f"Please keep it under {triage.TEXT_MAX} characters."})
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None or request.requester_id != user_id:
                return Decided(refused="Only the requester can answer this.")
            if request.decision_version != version or request.decision_state not in rules.ASKING:
                return Decided(refused="This question was already answered or the request was decided meanwhile.")
            moved: Any = s.execute(update(Request).where(
                Request.id == request_id, Request.decision_version == version,
            ).values(decision_state=State.NEW.value, decision_version=version + 1, updated_at=now)
                .execution_options(synchronize_session=False))
            if moved.rowcount != 1:
                return Decided(refused="This question was already answered.")
            s.refresh(request)
            event = DecisionEvent(request_id=request_id, version=version + 1, kind="answered", state=State.NEW.value,
                                  actor=user_id, text=text, created_at=now)
            s.add(event)
            s.flush()
            r = self.route_of(self.catalog.model(request.support_model), request.answers)
            ids = self._owe(s, request, r, event, now=now)
        return Decided(confirmation=":speech_balloon: Sent to the deciders and onto the GitLab issue.",
                       request_id=request_id, notice_ids=ids)

    def after_decision(self, decided: Decided, *, now: datetime) -> None:
        """Once Slack has its answer: send what is owed and bring Slack and GitLab in step."""
        for notice_id in decided.notice_ids:
            self.notices.send(notice_id, now=now)
        if decided.request_id is not None:
            for kind in KINDS:
                self.run_for(decided.request_id, kind, now=now)

    # --- jobs --------------------------------------------------------------------------------

    def run_due(self, *, now: datetime, limit: int = 100) -> list[JobResult]:
        with self.db.session() as s:
            claimed = [(j.id, j.kind, j.request_id, j.attempts)
                       for j in jobs.claim_due(s, now=now, kinds=KINDS, limit=limit)]
        results = []
        for job_id, kind, request_id, attempt in claimed:
            try:
                results.append(self._run(job_id, kind, request_id, attempt, now))
            except Exception as exc:  # one broken job must not stop the others
                log.exception("request %s: %s failed", request_id, kind.value)
                results.append(self._defer(job_id, kind, request_id, now, f"{type(exc).__name__}: {exc}", None))
        results.extend(self.nudge_due(now=now))
        return results

    def run_for(self, request_id: int, kind: JobKind, *, now: datetime, patience: float = 5.0) -> JobResult | None:
        """Run this request's job now. If another thread holds it (an earlier decision's write still
        under way), wait for it a little: what this decision added must not sit until the next pass."""
        deadline = time.monotonic() + patience
        while True:
            with self.db.session() as s:
                job = jobs.claim_for_request(s, kind=kind, request_id=request_id, now=now)
                claimed = (job.id, job.attempts) if job else None
                held = 0 if claimed is not None else s.scalar(select(func.count(Job.id)).where(
                    Job.kind == kind, Job.request_id == request_id, Job.finished_at.is_(None),
                    Job.claimed_until.is_not(None), Job.claimed_until > now))
            if claimed is not None:
                return self._run(claimed[0], kind, request_id, claimed[1], now)
            if not held or time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def _run(self, job_id: int, kind: JobKind, request_id: int, attempt: int, now: datetime) -> JobResult:
        if kind is JobKind.TRIAGE_MESSAGE:
            return self._update_message(job_id, request_id, attempt, now)
        return self._write_gitlab(job_id, request_id, attempt, now)

    def _update_message(self, job_id: int, request_id: int, attempt: int, now: datetime) -> JobResult:
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            thread = self._thread(s, request_id)
            posted = s.scalars(select(Notice).where(Notice.key == f"triage:{request_id}")).first()
            gone = "no message to update" if posted is None else (
                f"the message was never posted: {posted.last_error}" if posted.failed_at is not None else None)
            if gone is None and (thread is None or (request.gitlab_iid is None
                                                    and request.status is RequestStatus.FILING)):
                return self._wait(s, job_id, JobKind.TRIAGE_MESSAGE, request_id, now, "message or issue not there yet")
            if gone is None:
                text, blocks = triage.triage_message(self._card(s, request, self.catalog.model(request.support_model)))
        if gone is not None or thread is None:  # no channel, or Slack refused the message for good
            return self._finish(job_id, JobKind.TRIAGE_MESSAGE, request_id, attempt, now, "failed",
                                gone or "no message")
        try:
            self.slack.update_message(thread[0], thread[1], text, blocks)  # chat.update is safe to repeat
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "")
            if code in ("message_not_found", "channel_not_found", "cant_update_message", "invalid_blocks",
                        "is_archived", "not_in_channel"):
                return self._finish(job_id, JobKind.TRIAGE_MESSAGE, request_id, attempt, now, "failed", code)
            retry_after = exc.response.headers.get("Retry-After") if exc.response.headers else None
            return self._defer(job_id, JobKind.TRIAGE_MESSAGE, request_id, now, code or "Slack error",
                               float(retry_after) if retry_after else None)
        except (SlackRequestError, OSError) as exc:
            return self._defer(job_id, JobKind.TRIAGE_MESSAGE, request_id, now, f"Slack unreachable: {exc}", None)
        return self._finish(job_id, JobKind.TRIAGE_MESSAGE, request_id, attempt, now, "written", "message updated")

    def _write_gitlab(self, job_id: int, request_id: int, attempt: int, now: datetime) -> JobResult:
        kind = JobKind.DECISION_GITLAB
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            if request.gitlab_iid is None:
                if request.status is RequestStatus.FAILED:
                    return self._finish(job_id, kind, request_id, attempt, now, "failed", "the issue was never filed")
                return self._wait(s, job_id, kind, request_id, now, "issue not filed yet")
            iid, state, assignee = request.gitlab_iid, request.decision_state, request.assignee_username
            r = self.route_of(self.catalog.model(request.support_model), request.answers)
            events = [(e.id, e.kind, e.state, e.actor, e.text) for e in s.scalars(
                select(DecisionEvent).where(DecisionEvent.request_id == request_id,
                                            DecisionEvent.gitlab_note_at.is_(None),
                                            DecisionEvent.kind != "gitlab").order_by(DecisionEvent.id))]
            names = {p.slack_user_id: p.display_name for p in s.scalars(
                select(Person).where(Person.slack_user_id.in_([e[3] for e in events])))}
        unassigned: GitLabUnavailable | GitLabRejected | None = None
        try:
            for event_id, ekind, estate, actor, etext in events:
                marker = self.gitlab.markers.mark(DECISION_NOTE, event_id)
                if attempt > 1 and self.gitlab.find_note_with(iid, marker):
                    pass  # written by an earlier try whose answer was lost
                else:
                    self.gitlab.add_note(iid, _note_body(ekind, estate, names.get(actor) or actor, etext, marker))
                with self.db.session() as s:
                    e = s.get(DecisionEvent, event_id)
                    assert e is not None
                    e.gitlab_note_at = now
            issue = self.gitlab.get_issue(iid)
            wanted = rules.status_label(r, state)
            label_scope = rules.scope_of(wanted)
            stale = [lbl for lbl in issue.labels if rules.scope_of(lbl) == label_scope and lbl != wanted]
            fields: dict[str, Any] = {}
            if wanted not in issue.labels:
                fields["add_labels"] = wanted
            if stale:  # scoped labels replace each other in GitLab Premium; elsewhere we remove them
                fields["remove_labels"] = ",".join(stale)
            # The assignee is a wish on the side: whatever happens to it, the label and notes are written.
            if assignee and state == State.ACCEPTED and assignee not in issue.assignees:
                try:
                    user = self.gitlab.user_id(assignee)
                except (GitLabUnavailable, GitLabRejected) as exc:  # e.g. a token that may not list users (403)
                    unassigned, user = exc, None
                if user is not None:
                    fields["assignee_ids"] = [user]
                elif unassigned is None:
                    unassigned = GitLabRejected(f"no GitLab user {assignee!r}")
            if fields:
                self.gitlab.update_issue(iid, **fields)
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return self._defer(job_id, kind, request_id, now, str(exc), exc.retry_after)
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            return self._finish(job_id, kind, request_id, attempt, now, "failed", str(exc))
        if isinstance(unassigned, GitLabUnavailable):  # written; only the assignee waits for the next try
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return self._defer(job_id, kind, request_id, now, f"#{iid} {state} written; assignee @{assignee} "
                               f"not set yet: {unassigned}", unassigned.retry_after)
        if unassigned is not None:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            problem = f"assignee @{assignee} not set: {unassigned}"
            log.warning("request %s: #%s %s written, but %s", request_id, iid, state, problem)
            self._tell_unassigned(request_id, str(assignee), str(unassigned), now=now)
            return self._finish(job_id, kind, request_id, attempt, now, "written", f"#{iid} {state}; {problem}",
                                problem=problem)
        return self._finish(job_id, kind, request_id, attempt, now, "written", f"#{iid} {state}")

    def _tell_unassigned(self, request_id: int, username: str, why: str, *, now: datetime) -> None:
        """The decider asked to be assigned and GitLab would not: they hear it once, privately, with the link."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None or not request.decided_by or request.decided_by[:1] not in ("U", "W"):
                return
            text, blocks = triage.assignee_not_set(title=request.title, url=request.gitlab_url,
                                                   username=username, why=why)
            notice = outbox.enqueue(s, key=f"unassigned:{request_id}:{request.decision_version}",
                                    recipient=request.decided_by, text=text, blocks=blocks,
                                    request_id=request_id, due_at=now)
            notice_id = notice.id if notice.sent_at is None else None
        if notice_id is not None:
            self.notices.send(notice_id, now=now)

    def _wait(self, s: Session, job_id: int, kind: JobKind, request_id: int, now: datetime, why: str) -> JobResult:
        job = s.get(Job, job_id)
        assert job is not None
        job.due_at, job.claimed_until, job.attempts = now + NOT_READY, None, 0
        return JobResult(request_id, kind, "waiting", why)

    def _defer(self, job_id: int, kind: JobKind, request_id: int, now: datetime, error: str,
               retry_after: float | None) -> JobResult:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            when = jobs.retry_later(job, now=now, error=error, retry_after=retry_after)
        return JobResult(request_id, kind, "deferred", f"{error}; next try {when.isoformat()}")

    def _finish(self, job_id: int, kind: JobKind, request_id: int, attempt: int, now: datetime, outcome: str,
                detail: str, *, problem: str | None = None) -> JobResult:
        """`problem`: what went wrong beside a written outcome (kept on the job, shown by `learnbot show`)."""
        with self.db.session() as s:
            job = jobs.held(s, job_id)
            assert job is not None
            if jobs.finish_claimed(job, attempt=attempt, now=now) and (outcome == "failed" or problem):
                job.last_error = (problem or detail)[:2000]
        return JobResult(request_id, kind, outcome, detail)

    # --- raised once when undecided too long ------------------------------------------------

    def nudge_due(self, *, now: datetime) -> list[JobResult]:
        out = []
        with self.db.session() as s:
            waiting = list(s.scalars(select(Request).where(
                Request.decision_state.in_([State.NEW.value, State.NEEDS_INFO.value, State.CHANGES_REQUESTED.value]),
                Request.decision_nudged_at.is_(None), Request.status.in_(LIVE))))
            ids = []
            for request in waiting:
                model = self.catalog.model(request.support_model)
                if model is None or not rules.overdue_for_decision(request.created_at, model.decide_within, now):
                    continue
                thread = self._thread(s, request.id)
                if thread is None:
                    continue  # nowhere to raise it yet; the next pass tries again
                request.decision_nudged_at = now
                age = rules.age_text(request.created_at, now)
                text = triage.history_line(kind="nudge", state=request.decision_state, actor="learnbot",
                                           text=f"filed {age} ago; decide within {model.decide_within} days")
                ids.append(outbox.enqueue(s, key=f"decide-nudge:{request.id}", recipient=thread[0],
                                          thread_ts=thread[1], text=text, request_id=request.id, due_at=now).id)
                out.append(JobResult(request.id, JobKind.TRIAGE_MESSAGE, "nudged", age))
        for notice_id in ids:
            self.notices.send(notice_id, now=now)
        return out

    # --- GitLab says (webhook) ---------------------------------------------------------------

    def record_history(self, s: Session, request: Request, key: str, line: str, now: datetime) -> list[int]:
        """A step done or the request closed from Slack: one reply in the decision thread (sent by the worker)."""
        return self.on_status_changed(s, request, line, now=now, key=key)

    def on_status_changed(self, s: Session, request: Request, line: str, *, now: datetime,
                          key: str | None = None) -> list[int]:
        """A request closed or reopened: its thread says so, its message (and the team's capacity) follow."""
        ids = []
        thread = self._thread(s, request.id)
        key = key or f"status:{request.status}:{now.timestamp()}"
        if thread is not None:
            ids.append(outbox.enqueue(s, key=f"history:{request.id}:{key}",
                                      recipient=thread[0], thread_ts=thread[1], text=f":card_index: {line}",
                                      request_id=request.id, due_at=now).id)
            jobs.enqueue_or_wake(s, kind=JobKind.TRIAGE_MESSAGE, request_id=request.id, due_at=now)
        if request.decision_state in rules.IN_PROGRESS:
            self._wake_undecided(s, request.decision_scope, now=now)
        return ids

    def from_gitlab(self, s: Session, request: Request, labels: list[str], *, actor: str,
                    now: datetime) -> int | None:
        """Someone set the status label in GitLab: the request follows, the requester is told once."""
        model = self.catalog.model(request.support_model)
        r = self.route_of(model, request.answers)
        state = rules.state_in_labels(r, labels)
        if state is None or state.value == request.decision_state:
            return None
        request.decision_version += 1
        request.decision_state = state.value
        request.decided_by, request.decided_at, request.decision_reason = f"gitlab:{actor}", now, None
        request.updated_at = now
        event = DecisionEvent(request_id=request.id, version=request.decision_version, kind="gitlab",
                              state=state.value, actor=f"{actor} (GitLab)", text=None, created_at=now,
                              gitlab_note_at=now)
        s.add(event)
        if state in rules.IN_PROGRESS and model is not None and not _has_reminders(request):
            self.reminders.plan_for(s, request, model)
        s.flush()
        ids = self._owe(s, request, r, event, now=now)
        return ids[0] if ids else None


def _has_reminders(request: Request) -> bool:
    return any(m.reminders for m in request.milestones)


def _gitlab_name_ok(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}", name))


def _note_body(kind: str, state: str, actor: str, text: str | None, marker: str) -> str:
    label = rules.STATE_LABEL.get(State(state), state)
    head = {
        "answered": f"**Answer from the requester** ({gitlab_user_text(actor)}):",
        "asked": f"**Question from {gitlab_user_text(actor)}** (via learnbot):",
    }.get(kind, f"**{label}** by {gitlab_user_text(actor)} (via learnbot)")
    body = head
    if text:
        quoted = "\n".join("> " + line for line in gitlab_user_text(text).split("\n"))
        body += "\n\n" + quoted
    return f"{body}\n\n<!-- {marker} -->"
