"""DecisionService: the decision feature's entry points, for the listeners, intake, the webhook and the worker.

A request that needs a decision gets one message in its deciders' channel (card.py); a decider's
button opens a modal once they may decide (deciders.py); the modal's submission is stored before
Slack is answered (deciding.py); the jobs it owes bring the message and the GitLab issue in step
afterwards (owed.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session, selectinload

from bot import metrics
from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import decisions as rules
from bot.domain.decisions import Capacity, Route, State, Verb
from bot.gateways.gitlab import GitLabGateway
from bot.gateways.slack import SlackGateway
from bot.messages import decisions as messages
from bot.services.decisions import deciding
from bot.services.decisions.card import (
    LIVE,
    Cards,
    capacity,
    message_key,
    posted_message,
    thread_of,
    waitlist,
    wake_undecided,
)
from bot.services.decisions.deciders import Deciders, already_decided, cached_members, owners
from bot.services.decisions.owed import KINDS, JobResult, OwedWrites
from bot.services.named import tell_named
from bot.services.notices import NoticeService
from bot.services.reminders import ReminderService
from bot.services.turns import TurnService
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import JobKind, Person, Request


def is_status_label(label: str) -> bool:
    return rules.scope_of(label) in (rules.LD_LABEL_SCOPE, rules.LXP_LABEL_SCOPE)


@dataclass
class Decided:
    """What the listener answers with, and the notices to send once Slack has its answer."""

    errors: dict[str, str] = field(default_factory=dict)
    refused: str | None = None
    confirmation: str = ""
    request_id: int | None = None
    notice_ids: list[int] = field(default_factory=list)


class DecisionService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, gitlab: GitLabGateway,
                 notices: NoticeService, reminders: ReminderService, admins: frozenset[str],
                 channel: str | None, turns: TurnService | None = None):
        """`channel`: where requests without a team of their own are decided (LEARNBOT_TRIAGE_CHANNEL);
        `turns`: a waitlisted request's DM says its likely week (§16)."""
        self.db = db
        self.turns = turns
        self.catalog = catalog
        self.slack = slack
        self.notices = notices
        self.reminders = reminders
        self.cards = Cards(catalog=catalog, channel=channel)
        self.deciders = Deciders(db=db, slack=slack, admins=admins)
        self.owed = OwedWrites(db=db, cards=self.cards, slack=slack, gitlab=gitlab, notices=notices)
        # Told, in the decision's transaction, of a request decided (a declined live session's invite is cancelled).
        self.on_decided: Callable[[Session, Request], object] | None = None

    def route_of(self, model: SupportModel | None, answers: dict[str, Any]) -> Route:
        return self.cards.route_of(model, answers)

    def refresh_group(self, usergroup: str, *, now: datetime, force: bool = False) -> list[str]:
        return self.deciders.refresh_group(usergroup, now=now, force=force)

    # --- filing ------------------------------------------------------------------------------

    def on_submitted(self, s: Session, request: Request, model: SupportModel, *, now: datetime) -> bool:
        """Called in the submission's transaction, before the request is written; True when the plan's
        reminders start now.

        A model that needs no decision, or a request with nowhere to be decided (no channel set),
        is accepted on filing and only announced.
        """
        r = self.cards.route_of(model, request.answers)
        request.decision_scope = r.scope
        channel = self.cards.channel(r)
        if not model.needs_decision or channel is None:
            request.decision_state = State.APPROVED if r.lxp else State.ACCEPTED
            request.decided_by, request.decided_at = "learnbot", now
        else:
            request.decision_state = State.NEW
        if channel is not None:
            s.flush()  # the request's id (the decision fields set above go into its INSERT)
            text, blocks = messages.deciders_message(self.cards.card(s, request, model, r))
            outbox.enqueue(s, key=message_key(request.id), recipient=channel, text=text, blocks=blocks,
                           request_id=request.id, due_at=now)
            # Once the issue is filed, the message gets its link (and any decision made meanwhile),
            # and the issue its status label.
            jobs.enqueue_or_wake(s, kind=JobKind.DECISION_MESSAGE, request_id=request.id, due_at=now)
            jobs.enqueue_or_wake(s, kind=JobKind.DECISION_GITLAB, request_id=request.id, due_at=now)
        # The people it names hear it once, with a way to step out (one INSERT, none if it names nobody).
        # IntakeService.submit may make this call itself, right after this one.
        tell_named(s, request, model, now)
        return request.decision_state in rules.IN_PROGRESS

    def after_submit(self, request_id: int, *, now: datetime) -> None:
        """Post the deciders' message now rather than at the worker's next pass."""
        with self.db.session() as s:
            notice = posted_message(s, request_id)
            notice_id = notice.id if notice else None
        if notice_id is not None:
            self.notices.send(notice_id, now=now)
            for kind in KINDS:  # the link in the message, the status label on the issue
                self.run_for(request_id, kind, now=now)

    # --- a decider presses a button (after the answer: network allowed) ---------------------

    def open_decision(self, request_id: int, version: int, verb: Verb, *, user_id: str, trigger_id: str,
                      now: datetime) -> str | None:
        """Open the decision modal; or the reason why not (to show privately)."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                return "This request no longer exists."
            model = self.catalog.model(request.support_model)
            r = self.cards.route_of(model, request.answers)
            named = owners(request, model)
        # The group's members: to know whether this person decides, or whether anyone else can.
        members = self.deciders.members_to_check(user_id, r, named, now=now)
        refused = self.deciders.refusal(user_id, r, named, members)
        if refused:
            return refused
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            if request.status not in LIVE:
                return "This request is closed, so there is nothing to decide."
            if request.decision_version != version or verb not in rules.verbs(r, request.decision_state):
                return already_decided(request)
            card = self.cards.card(s, request, model, r)
            person = s.get(Person, user_id)
            known = person.gitlab_username if person else None
        self.slack.open_view(trigger_id, messages.decision_modal(card, verb, gitlab_username=known))
        return None

    # --- the modal is submitted (before the answer: local work only) --------------------------

    def decide(self, request_id: int, version: int, verb: Verb, *, user_id: str, text: str | None,
               until: date | None = None, gitlab_username: str | None = None, confirmed: bool = False,
               now: datetime) -> Decided:
        text = (text or "").strip() or None
        username = (gitlab_username or "").strip().lstrip("@") or None
        errors = deciding.form_errors(verb, text, username, until, today=now.date())
        if errors:
            return Decided(errors=errors)
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            if request is None:
                return Decided(refused="This request no longer exists.")
            model = self.catalog.model(request.support_model)
            r = self.cards.route_of(model, request.answers)
            refused = self._refusal(s, request, model, r, verb, user_id=user_id)
            if refused:
                return Decided(refused=refused)
            # Counted before the move, acted on after it: a decision that came first is the answer.
            over = capacity(s, r) if verb is Verb.ACCEPT and not confirmed else None
            was_waitlisted = request.decision_state == State.WAITLISTED
            queue_before = waitlist(s, r.scope) if was_waitlisted else []
            if not deciding.move(s, request, seen=version, values=deciding.decision_values(
                    verb, request, user_id=user_id, text=text, until=until, username=username, now=now)):
                return self._came_first(s, request_id)
            if over is not None and over.full:
                s.rollback()
                return Decided(errors={"text": _over_capacity(r, over)})
            ids = self._after_move(s, request, model, r, verb, user_id=user_id, text=text, username=username,
                                   now=now)
            if was_waitlisted:
                ids += deciding.tell_waitlist(s, r.scope, queue_before, now=now, turns=self.turns)
        state = rules.RESULT[verb]
        metrics.DECISIONS.labels(state.value).inc()
        return Decided(confirmation=f":white_check_mark: *{rules.STATE_LABEL[state]}* — the requester is told, "
                                    "and GitLab follows.", request_id=request_id, notice_ids=ids)

    def _refusal(self, s: Session, request: Request, model: SupportModel | None, r: Route, verb: Verb, *,
                 user_id: str) -> str | None:
        """Why this decision is refused as the request stands (the version is the UPDATE's to compare)."""
        members = cached_members(s, r.usergroup)
        refused = self.deciders.refusal(user_id, r, owners(request, model), members)
        if refused:
            return refused
        if request.status not in LIVE:
            return "This request is closed, so there is nothing to decide."
        if verb not in rules.verbs(r, request.decision_state):
            return already_decided(request)
        return None

    def _came_first(self, s: Session, request_id: int) -> Decided:
        """Another decision moved the request after this decider's modal opened: they are told whose."""
        s.rollback()
        with self.db.session() as s2:
            current = s2.get(Request, request_id)
            assert current is not None
            return Decided(refused=already_decided(current))

    def _after_move(self, s: Session, request: Request, model: SupportModel | None, r: Route, verb: Verb, *,
                    user_id: str, text: str | None, username: str | None, now: datetime) -> list[int]:
        """The history row of the move and what it owes; the notices' ids."""
        event = deciding.history(s, request, kind="asked" if verb is Verb.ASK else "decided", actor=user_id,
                                 text=text, now=now)
        if username is not None:
            deciding.remember_gitlab_username(s, user_id, username, now=now)
        in_progress = rules.RESULT[verb] in rules.IN_PROGRESS
        if in_progress and model is not None and not deciding.has_reminders(request):
            self.reminders.plan_for(s, request, model)  # accepting work starts the plan's reminders
        s.flush()
        ids = deciding.owe(s, request, r, event, now=now, turns=self.turns)
        if self.on_decided is not None:
            self.on_decided(s, request)
        if in_progress:  # capacity changed: the team's other open messages show it
            wake_undecided(s, r.scope, now=now)
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
            return messages.reply_modal(request_id=request_id, version=version, title=request.title,
                                        question=request.decision_reason)

    def reply(self, request_id: int, version: int, *, user_id: str, text: str | None, now: datetime) -> Decided:
        text = (text or "").strip() or None
        if not text:
            return Decided(errors={"text": "Please write your answer."})
        if len(text) > messages.TEXT_MAX:
            return Decided(errors={"text": f"Please keep it under {messages.TEXT_MAX} characters."})
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None or request.requester_id != user_id:
                return Decided(refused="Only the requester can answer this.")
            if request.decision_version != version or request.decision_state not in rules.ASKING:
                return Decided(refused="This question was already answered or the request was decided meanwhile.")
            if not deciding.move(s, request, seen=version, values=dict(decision_state=State.NEW.value,
                                                                       updated_at=now)):
                return Decided(refused="This question was already answered.")
            event = deciding.history(s, request, kind="answered", actor=user_id, text=text, now=now)
            s.flush()
            ids = deciding.owe(s, request, self.cards.route_of_request(request), event, now=now,
                               turns=self.turns)
        return Decided(confirmation=":speech_balloon: Sent to the deciders and onto the GitLab issue.",
                       request_id=request_id, notice_ids=ids)

    def after_decision(self, decided: Decided, *, now: datetime) -> None:
        """Once Slack has its answer: send what is owed and bring Slack and GitLab in step."""
        for notice_id in decided.notice_ids:
            self.notices.send(notice_id, now=now)
        if decided.request_id is not None:
            for kind in KINDS:
                self.run_for(decided.request_id, kind, now=now)

    # --- what decisions owe (jobs) -----------------------------------------------------------

    @property
    def handlers(self) -> list[Any]:
        """The owed writes' kinds, run by the one runner (bot/services/runner.py)."""
        return self.owed.handlers

    def nudge_due(self, *, now: datetime) -> list[JobResult]:
        """Requests undecided past their model's decide_within: raised once in the deciders' thread."""
        return self.owed.nudge_due(now=now)

    def run_for(self, request_id: int, kind: JobKind, *, now: datetime, patience: float = 5.0) -> JobResult | None:
        return self.owed.run_for(request_id, kind, now=now, patience=patience)

    # --- the request changes elsewhere (steps, closing, GitLab) -------------------------------

    def record_history(self, s: Session, request: Request, key: str, line: str, now: datetime) -> list[int]:
        """A step done or the request closed from Slack: one reply in the decision thread (sent by the worker)."""
        return self.on_status_changed(s, request, line, now=now, key=key)

    def on_status_changed(self, s: Session, request: Request, line: str, *, now: datetime,
                          key: str | None = None) -> list[int]:
        """A request closed or reopened: its thread says so, its message (and the team's capacity) follow."""
        ids = []
        thread = thread_of(s, request.id)
        key = key or f"status:{request.status}:{now.timestamp()}"
        if thread is not None:
            ids.append(outbox.enqueue(s, key=f"history:{request.id}:{key}",
                                      recipient=thread[0], thread_ts=thread[1], text=f":card_index: {line}",
                                      request_id=request.id, due_at=now).id)
            jobs.enqueue_or_wake(s, kind=JobKind.DECISION_MESSAGE, request_id=request.id, due_at=now)
        if request.decision_state in rules.IN_PROGRESS:
            wake_undecided(s, request.decision_scope, now=now)
        return ids

    def from_gitlab(self, s: Session, request: Request, labels: list[str], *, actor: str,
                    now: datetime) -> int | None:
        """Someone set the status label in GitLab: the request follows, the requester is told once."""
        model = self.catalog.model(request.support_model)
        r = self.cards.route_of(model, request.answers)
        state = rules.state_in_labels(r, labels)
        if state is None or state.value == request.decision_state:
            return None
        request.decision_version += 1
        request.decision_state = state.value
        request.decided_by, request.decided_at, request.decision_reason = f"gitlab:{actor}", now, None
        request.updated_at = now
        event = deciding.history(s, request, kind="gitlab", actor=f"{actor} (GitLab)", text=None, now=now,
                                 gitlab_note_at=now)
        if state in rules.IN_PROGRESS and model is not None and not deciding.has_reminders(request):
            self.reminders.plan_for(s, request, model)
        s.flush()
        ids = deciding.owe(s, request, r, event, now=now, turns=self.turns)
        if self.on_decided is not None:
            self.on_decided(s, request)
        return ids[0] if ids else None


def _over_capacity(r: Route, cap: Capacity) -> str:
    return f"{r.team} is at capacity ({cap.text()}): tick “Accept anyway” or choose Waitlist."

