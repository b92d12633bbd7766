"""GitLab → learnbot: issue events reflected in the request, its plan and reminders, and told in Slack.

A delivery is stored (keyed by GitLab's Idempotency-Key) before it is answered, then acted on
straight after; the worker finishes any a dying web process left. Acting on the same delivery
twice is impossible (a claimed row), and acting on an event whose change is already known (our
own write coming back, a repeat) changes nothing and tells nobody.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from bot.catalog import LoadedCatalog
from bot.domain.checklist import ticked_keys
from bot.domain.gitlab_events import IssueChange, MalformedEvent, NoteAdded, in_project, parse_event
from bot.domain.markers import Markers
from bot.messages import notices
from bot.services.decisions import DecisionService, is_status_label
from bot.services.notices import NoticeService
from bot.services.reminders import ReminderService
from bot.services.runner import Claim, Done, Kind, Outcome, run_now
from bot.store import notices as outbox
from bot.store import reminders as reminder_queries
from bot.store.db import Database
from bot.store.models import Milestone, Request, RequestStatus, WebhookDelivery
from bot.store.queues import WEBHOOK_DELIVERIES

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 30


@dataclass(frozen=True)
class Accepted:
    delivery_id: int | None  # None: nothing to act on (see `ignored`)
    duplicate: bool = False
    ignored: str | None = None


@dataclass
class Told:
    """What changed, for the one DM the requester gets about it."""

    request_id: int
    requester: str
    title: str
    url: str | None
    lines: list[str] = field(default_factory=list)


def delivery_key(idempotency_key: str | None, body: bytes) -> str:
    """GitLab's Idempotency-Key (the same for every retry of a delivery), else a hash of the body."""
    if idempotency_key and idempotency_key.strip():
        return "key:" + idempotency_key.strip()[:190]
    return "sha256:" + hashlib.sha256(body).hexdigest()


class IssueEventService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, notices: NoticeService, reminders: ReminderService,
                 relay_notes: bool = True, decisions: DecisionService | None = None,
                 project: str | None = None, markers: Markers | None = None):
        self.db = db
        self.project = project  # GITLAB_PROJECT: deliveries about any other project are ignored
        self.markers = markers  # how learnbot's own notes are known (bot.domain.markers)
        self.catalog = catalog
        self.notices = notices
        self.reminders = reminders
        self.relay_notes = relay_notes
        self.decisions = decisions
        self.handler = Kind("gitlab_event", WEBHOOK_DELIVERIES, self._process,
                            take=lambda d: (d.event, d.payload), max_attempts=MAX_ATTEMPTS, part="GitLab events")

    # --- receiving ---------------------------------------------------------------------------

    def accept(self, *, event_header: str | None, payload: Any, key: str, now: datetime) -> Accepted:
        """Check the shape (MalformedEvent if wrong) and store it once; events we ignore are not stored."""
        event = parse_event(event_header, payload)
        if event is None:
            return Accepted(None, ignored="not an issue or comment event")
        ignored = self._not_for_requesters(event)
        if ignored is not None:
            return Accepted(None, ignored=ignored)
        with self.db.session() as s:
            if self._find(s, event.iid, event.issue_url, load=False) is None:
                return Accepted(None, ignored="not an issue learnbot opened")
        try:
            with self.db.session() as s:
                delivery = WebhookDelivery(idempotency_key=key, event=(event_header or "")[:64], payload=payload,
                                           received_at=now)
                s.add(delivery)
                s.flush()
                return Accepted(delivery.id)
        except IntegrityError:
            with self.db.session() as s:
                existing = s.scalars(select(WebhookDelivery).where(WebhookDelivery.idempotency_key == key)).one()
                return Accepted(existing.id, duplicate=True)

    def _not_for_requesters(self, event: IssueChange | NoteAdded) -> str | None:
        """Why learnbot does not act on `event` at all (another project's, an internal note), or None."""
        if self.project is not None and not in_project(event, self.project):
            return "another project's event"
        if isinstance(event, NoteAdded) and event.internal:
            return "internal note"
        return None

    def process(self, delivery_id: int, *, now: datetime) -> str:
        """Act on one stored delivery now (after the answer to GitLab); the worker's pass does it otherwise."""
        done = run_now(self.db, self.handler, delivery_id, now=now)
        return done.detail if done is not None else "already handled"

    def _process(self, claim: Claim, now: datetime) -> Outcome:
        event_header, payload = claim.data
        outcome, told = self._act(event_header, payload, now=now)
        owed: list[int] = []

        def record(s: Session, delivery: WebhookDelivery) -> None:
            delivery.outcome = outcome[:200]
            if told is not None and told.lines:  # owed in the same transaction: told once, never lost
                text, body = notices.issue_changed(title=told.title, url=told.url, lines=told.lines)
                owed.append(outbox.enqueue(s, key=f"issue-event:{claim.id}", recipient=told.requester,
                                           text=text, blocks=body, request_id=told.request_id, due_at=now).id)

        def then() -> None:
            for notice_id in owed:
                self.notices.send(notice_id, now=now)
            log.info("gitlab delivery %s: %s", claim.id, outcome, extra={
                "event": "webhook_applied", "delivery_id": claim.id,
                "request_id": told.request_id if told is not None else None})

        return Done("applied", outcome, record=record, then=then)

    # --- acting ------------------------------------------------------------------------------

    def _act(self, event_header: str, payload: Any, *, now: datetime) -> tuple[str, Told | None]:
        try:
            event = parse_event(event_header, payload)
        except MalformedEvent as exc:  # checked when received; only a changed parser gets here
            return f"malformed: {exc}", None
        if event is not None and (ignored := self._not_for_requesters(event)) is not None:
            return ignored, None  # stored before this check existed: checked again here
        if isinstance(event, IssueChange):
            return self._issue_changed(event, now=now)
        if isinstance(event, NoteAdded):
            return self._note_added(event)
        return "ignored", None

    def _find(self, s: Session, iid: int, url: str | None, *, load: bool = True, lock: bool = False) -> Request | None:
        query = select(Request).where(Request.gitlab_iid == iid)
        if lock:
            # Two deliveries of the same change (GitLab sends each with its own key) acted on at once
            # would both see the old state and both tell: the second waits here and sees the first's.
            query = query.with_for_update()
        if load:
            query = query.options(selectinload(Request.milestones).selectinload(Milestone.reminders))
        candidates = list(s.scalars(query))
        # A group hook sends other projects' issues with the same iid: the issue's URL decides.
        for request in candidates:
            if url is None or request.gitlab_url is None or request.gitlab_url == url:
                return request
        return None

    def _issue_changed(self, change: IssueChange, *, now: datetime) -> tuple[str, Told | None]:
        decision_notices: list[int] = []
        try:
            return self._apply_change(change, decision_notices, now=now)
        finally:
            for notice_id in decision_notices:  # committed by now; sent here or by the worker
                self.notices.send(notice_id, now=now)

    def _apply_change(self, change: IssueChange, decision_notices: list[int], *,
                      now: datetime) -> tuple[str, Told | None]:
        with self.db.session() as s:
            request = self._find(s, change.iid, change.url, lock=True)
            if request is None:
                return "not an issue learnbot opened", None
            told = Told(request.id, request.requester_id, request.title, request.gitlab_url)
            who = f" by @{change.actor}" if change.actor else ""

            if change.title and change.title != request.title:
                told.lines.append(f"Renamed{who}: was “{request.title}”")
                request.title = change.title[:255]
                told.title = request.title
            if change.labels_changed is not None and sorted(change.labels) != sorted(request.labels):
                told.lines.extend(self._labels_changed(s, request, change, who, decision_notices, now=now))
            if change.assignees_changed is not None:
                current = change.assignees_changed[1]
                # learnbot's own assignment on Accept coming back tells nobody.
                if list(current) != ([request.assignee_username] if request.assignee_username else []):
                    told.lines.append(f"Assigned{who} to " + ", ".join(f"@{u}" for u in current)
                                      if current else f"Unassigned{who}")
                    request.assignee_username = current[0] if current else None
            if change.due_date_changed is not None and change.due_date != request.due_on:
                told.lines.extend(self._due_date_moved(s, request, change.due_date, who, now=now))
            if change.description is not None:
                told.lines.extend(self._ticked_in_gitlab(s, request, change.description, change.actor, now=now))
            told.lines.extend(self._closed_or_reopened(s, request, change, who, decision_notices, now=now))
            if told.lines:
                request.updated_at = now
        return ("; ".join(told.lines) or "nothing new"), told

    def _labels_changed(self, s: Session, request: Request, change: IssueChange, who: str,
                        decision_notices: list[int], *, now: datetime) -> list[str]:
        before, after = set(request.labels), set(change.labels)
        # Decision labels (ld-status::, lxp::) are the decision's to report, once.
        plain = {x for x in before ^ after if not is_status_label(x)}
        parts = ([f"+{x}" for x in sorted((after - before) & plain)]
                 + [f"−{x}" for x in sorted((before - after) & plain)])
        request.labels = list(change.labels)
        if self.decisions is not None:
            owed = self.decisions.from_gitlab(s, request, list(change.labels), actor=change.actor or "someone",
                                              now=now)
            if owed is not None:
                decision_notices.append(owed)
        return [f"Labels{who}: {' '.join(parts)}"] if parts else []

    def _closed_or_reopened(self, s: Session, request: Request, change: IssueChange, who: str,
                            decision_notices: list[int], *, now: datetime) -> list[str]:
        lines = []
        if change.closed and request.status is not RequestStatus.CLOSED:
            ReminderService.stop_request(s, request, now=now)
            lines.append(f"Closed{who}: its reminders have stopped")
            if self.decisions is not None:
                decision_notices.extend(self.decisions.on_status_changed(
                    s, request, f"Issue closed in GitLab{who}", now=now))
            if self.reminders.plan_review_on_publish(s, request, now=now):  # an LXP contribution, published
                lines.append("Published: its evergreen review is planned")
            decision_notices.extend(self.reminders.closed(s, request, now=now))  # check-ins, the rating
        elif change.reopened and request.status is RequestStatus.CLOSED:
            resumed = self._reopen(s, request, now=now)
            lines.append(f"Reopened{who}: reminders resume" + (f" ({resumed} to come)" if resumed else ""))
            if self.decisions is not None:
                decision_notices.extend(self.decisions.on_status_changed(
                    s, request, f"Issue reopened in GitLab{who}", now=now))
        return lines

    def _due_date_moved(self, s: Session, request: Request, new: date | None, who: str, *,
                        now: datetime) -> list[str]:
        old = request.due_on
        request.due_on = new
        model = self.catalog.model(request.support_model)
        if new is None or model is None or model.plan is None or new == request.anchor_date:
            return [f"Due date{who}: {new.isoformat() if new else 'removed'}"]
        anchor = model.field(model.plan.anchor)
        current = request.answers.get(anchor.id)
        value: Any = new
        if anchor.type == "datetime" and current and request.anchor_date:
            # A session keeps its time of day; it moves by the days the due date moved.
            value = datetime.fromisoformat(current) + (new - request.anchor_date)
        zone = self.reminders.people.zone_in(s, request.requester_id)
        moved = self.reminders.apply_replan(s, request, model, new_value=value, new_anchor=new,
                                            today=now.astimezone(zone).date(), now=now)
        was = f" (was {old.isoformat()})" if old else ""
        return [f"Date moved{who} to {new.isoformat()}{was}: {len(moved)} open step(s) re-planned"]

    def _ticked_in_gitlab(self, s: Session, request: Request, description: str, actor: str | None, *,
                          now: datetime) -> list[str]:
        ticked = ticked_keys(description)
        lines = []
        for m in request.milestones:
            if m.key in ticked and m.done_at is None:
                m.done_at, m.done_by = now, f"gitlab:{actor or '?'}"
                reminder_queries.cancel_pending(s, [m.id], now=now)
                lines.append(f"“{m.title}” ticked in GitLab" + (f" by @{actor}" if actor else ""))
        return lines

    @staticmethod
    def _reopen(s: Session, request: Request, *, now: datetime) -> int:
        request.status, request.closed_at = RequestStatus.OPEN, None
        resumed = 0
        for m in request.milestones:
            if m.done_at is not None:
                continue
            for r in m.reminders:
                if r.sent_at is None and r.cancelled_at is not None:
                    r.cancelled_at, r.claimed_until, r.attempts = None, None, 0
                    resumed += 1
        return resumed

    def _note_added(self, note: NoteAdded) -> tuple[str, Told | None]:
        if note.system:
            return "system note", None
        if note.internal:
            return "internal note", None
        if self.markers is not None and self.markers.signed_in(note.note):
            return "learnbot's own note", None  # a decision, a follow-up, a review: told in Slack already
        if not self.relay_notes:
            return "note (relaying is off)", None
        with self.db.session() as s:
            request = self._find(s, note.iid, note.issue_url)
            if request is None:
                return "not an issue learnbot opened", None
            told = Told(request.id, request.requester_id, request.title, request.gitlab_url)
        told.lines.append(f"Comment from {note.author or 'someone'}: {note.note}")
        return "note relayed", told
