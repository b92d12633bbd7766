"""Reminders: planning them per recipient, delivering each exactly once, and what their buttons do."""

from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from bot.catalog import FieldSpec, LoadedCatalog, SupportModel
from bot.domain.reminders import EARLIEST_ZONE, OpenStep, due_moment, recipients, replan, snoozed_until
from bot.domain.routing import co_owners
from bot.domain.validation import to_json
from bot.gateways.slack import SlackGateway
from bot.messages import forms
from bot.messages.reminders import reminder_message
from bot.services.people import STALE_AFTER, PeopleService
from bot.store import jobs
from bot.store import reminders as queries
from bot.store.db import Database
from bot.store.models import JobKind, Milestone, Person, Reminder, Request, RequestStatus

log = logging.getLogger(__name__)
EVENT_TYPE = "learnbot_reminder"
# In-pass retries after an ambiguous Slack failure (5xx, lost answer), each after a history check.
IN_PASS_RETRIES = (0.5, 1.0)


class Delivery(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"  # found in the DM's history after an ambiguous failure
    RESCHEDULED = "rescheduled"  # the recipient's time zone put it later
    CANCELLED = "cancelled"
    RETRY = "retry"


@dataclass(frozen=True)
class DeliveryResult:
    reminder_id: int
    outcome: Delivery
    detail: str = ""


class NotAllowed(Exception):
    """The person pressing the button is not the requester, a co-owner or an L&D admin."""


class Stale(Exception):
    """The button belongs to something that has changed (done already, closed, re-planned)."""


def _is_ambiguous(exc: Exception) -> bool:
    """True when Slack may have posted the message although we did not get a good answer."""
    if isinstance(exc, SlackApiError):
        return exc.response.status_code >= 500
    return isinstance(exc, SlackRequestError | OSError)


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else default
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return default


class ReminderService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, people: PeopleService,
                 admins: frozenset[str], reminder_hour: int, default_zone: ZoneInfo):
        self.db = db
        self.catalog = catalog
        self.slack = slack
        self.people = people
        self.admins = admins
        self.hour = reminder_hour
        self.default_zone = default_zone

    # --- planning ----------------------------------------------------------------------------

    def _zone_known(self, session: Session, user_id: str) -> ZoneInfo | None:
        person = session.get(Person, user_id)
        if person is None or not person.tz:
            return None
        try:
            return ZoneInfo(person.tz)
        except (KeyError, ValueError):
            return None

    def _due(self, session: Session, day: date, user_id: str) -> tuple[datetime, bool]:
        zone = self._zone_known(session, user_id)
        return due_moment(day, self.hour, zone or EARLIEST_ZONE), zone is not None

    def plan_for(self, session: Session, request: Request, model: SupportModel) -> None:
        """Reminder rows for every open milestone and every recipient (requester and co-owners)."""
        session.flush()  # the milestones' ids
        self.plan_reminders(session, requester_id=request.requester_id, answers=request.answers, model=model,
                            open_milestones=[(m.id, m.due_on) for m in request.milestones if m.done_at is None])

    def plan_reminders(self, session: Session, *, requester_id: str, answers: dict[str, Any], model: SupportModel,
                       open_milestones: list[tuple[int, date]]) -> None:
        """plan_for with the milestones already stored: one INSERT for all (this runs before Slack's answer)."""
        people = recipients(requester_id, co_owners(model, answers, requester_id))
        zones = {person: self._zone_known(session, person) for person in people}
        rows = [{"milestone_id": milestone_id, "recipient_id": person, "zone_checked": zones[person] is not None,
                 "due_at": due_moment(day, self.hour, zones[person] or EARLIEST_ZONE)}
                for milestone_id, day in open_milestones for person in people]
        if rows:
            session.execute(insert(Reminder), rows)

    # --- delivery ----------------------------------------------------------------------------

    def run_due(self, *, now: datetime, batch: int = 100, max_batches: int = 1000) -> list[DeliveryResult]:
        """Deliver every due reminder, a claimed batch at a time, until none is left."""
        results: list[DeliveryResult] = []
        for _ in range(max_batches):
            with self.db.session() as s:
                claimed = queries.claim_due(s, now=now, limit=batch)
            if not claimed:
                break
            results.extend(self._deliver(rid, now=now) for rid in claimed)
        return results

    def _load(self, session: Session, reminder_id: int) -> Reminder:
        reminder = session.scalars(
            select(Reminder).where(Reminder.id == reminder_id)
            .options(selectinload(Reminder.milestone).selectinload(Milestone.request))
        ).one()
        return reminder

    def _deliver(self, reminder_id: int, *, now: datetime) -> DeliveryResult:
        with self.db.session() as s:
            r = self._load(s, reminder_id)
            m, request = r.milestone, r.milestone.request
            if request.status in (RequestStatus.CLOSED, RequestStatus.FAILED) or m.done_at is not None:
                r.cancelled_at, r.claimed_until = now, None
                return DeliveryResult(reminder_id, Delivery.CANCELLED, "request closed or step done")
            recipient, attempts, snoozed, due_at = r.recipient_id, r.attempts, r.snoozed, r.due_at
            step, due_on, late = m.title, m.due_on, m.pulled_forward
            title, url = request.title, request.gitlab_url
            cached = s.get(Person, recipient)
            fresh_tz = cached.tz if cached is not None and now - cached.refreshed_at < STALE_AFTER else None
        if not snoozed:
            # Due at the reminder hour in the recipient's zone as Slack says it is now (users.info,
            # cached for a day): someone who moved, or whose zone was not known yet, gets it at
            # their own 09:00.
            if fresh_tz is None:
                person = self.people.refresh(recipient, now=now)
                fresh_tz = person.tz if person is not None else None
            correct = due_moment(due_on, self.hour, _zone(fresh_tz, self.default_zone))
            if correct != due_at:
                with self.db.session() as s:
                    row = s.get(Reminder, reminder_id)
                    assert row is not None
                    row.zone_checked, row.due_at = True, correct
                    if correct > now:
                        row.claimed_until, row.attempts = None, 0
                        return DeliveryResult(reminder_id, Delivery.RESCHEDULED, correct.isoformat())

        text, body = reminder_message(reminder_id=reminder_id, step=step, due_on=due_on,
                                     request_title=title, issue_url=url, late=late)
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"reminder_id": reminder_id}}
        check_first = attempts > 1
        last_error = ""
        for pause in (0.0, *IN_PASS_RETRIES):
            if pause:
                clock.sleep(pause)
            try:
                if check_first:
                    found = self.slack.find_dm_with_metadata(recipient, EVENT_TYPE, {"reminder_id": reminder_id})
                    if found is not None:
                        self._mark_sent(reminder_id, found.channel, found.ts, now)
                        return DeliveryResult(reminder_id, Delivery.ALREADY_SENT)
                posted = self.slack.send_dm(recipient, text, body, metadata=metadata)
            except (SlackApiError, SlackRequestError, OSError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                if not _is_ambiguous(exc):
                    return self._give_up(reminder_id, now, last_error)
                check_first = True
                continue
            self._mark_sent(reminder_id, posted.channel, posted.ts, now)
            return DeliveryResult(reminder_id, Delivery.SENT)
        with self.db.session() as s:
            row = s.get(Reminder, reminder_id)
            assert row is not None
            # Stays claimed-then-released: the next pass checks the DM's history before sending.
            row.claimed_until = now + timedelta(minutes=1)
            row.last_error = last_error[:2000]
        return DeliveryResult(reminder_id, Delivery.RETRY, last_error)

    def _mark_sent(self, reminder_id: int, channel: str, ts: str, now: datetime) -> None:
        with self.db.session() as s:
            r = s.get(Reminder, reminder_id)
            assert r is not None
            r.sent_at, r.slack_channel, r.slack_ts, r.claimed_until, r.last_error = now, channel, ts, None, None

    def _give_up(self, reminder_id: int, now: datetime, error: str) -> DeliveryResult:
        log.error("reminder %s cannot be delivered: %s", reminder_id, error)
        with self.db.session() as s:
            r = s.get(Reminder, reminder_id)
            assert r is not None
            r.cancelled_at, r.claimed_until, r.last_error = now, None, error[:2000]
        return DeliveryResult(reminder_id, Delivery.CANCELLED, error)

    # --- buttons -----------------------------------------------------------------------------

    def _allowed(self, request: Request, user_id: str) -> bool:
        model = self.catalog.model(request.support_model)
        owners = recipients(request.requester_id,
                            co_owners(model, request.answers, request.requester_id) if model else [])
        return user_id in owners or user_id in self.admins

    def mark_done(self, reminder_id: int, *, user_id: str, now: datetime) -> tuple[str, list[dict[str, Any]]]:
        """Record the step as done (for everyone), stop its other reminders, queue the GitLab tick."""
        with self.db.session() as s:
            r = self._load(s, reminder_id)
            m, request = r.milestone, r.milestone.request
            if not self._allowed(request, user_id):
                raise NotAllowed
            if request.status is RequestStatus.CLOSED:
                raise Stale("This request is closed.")
            if m.done_at is None:
                m.done_at, m.done_by = now, user_id
                queries.cancel_pending(s, [m.id], now=now)
                jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request.id, due_at=now)
            note = f"on {m.done_at.date().isoformat()}" if m.done_by == user_id else "(already done)"
            return reminder_message(reminder_id=r.id, step=m.title, due_on=m.due_on, request_title=request.title,
                                    issue_url=request.gitlab_url, late=False, state="done",
                                    actor=m.done_by or user_id, note=note)

    def snooze(self, reminder_id: int, *, how: str, user_id: str, now: datetime) -> tuple[str, list[dict[str, Any]]]:
        """Move only this reminder (this person's), by a day or a week."""
        with self.db.session() as s:
            r = self._load(s, reminder_id)
            m, request = r.milestone, r.milestone.request
            if not self._allowed(request, user_id):
                raise NotAllowed
            if m.done_at is not None or request.status is RequestStatus.CLOSED:
                raise Stale("This step is already done." if m.done_at else "This request is closed.")
            until = snoozed_until(now, how)
            r.due_at, r.sent_at, r.cancelled_at, r.claimed_until = until, None, None, None
            r.zone_checked, r.snoozed, r.attempts = True, True, 0
            step, due_on, title, url = m.title, m.due_on, request.title, request.gitlab_url
            zone = self.people.zone_in(s, r.recipient_id)  # in this transaction: one, not two, before the answer
        local = until.astimezone(zone)
        return reminder_message(reminder_id=reminder_id, step=step, due_on=due_on, request_title=title,
                                issue_url=url, late=False, state="snoozed", actor=user_id,
                                note=f"{local:%Y-%m-%d %H:%M} ({local.tzname()})")

    def close_request(self, request_id: int, *, user_id: str, now: datetime) -> str:
        """Close from Slack: reminders stop at once; the GitLab issue is closed by a queued job."""
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            if request is None:
                raise Stale("That request no longer exists.")
            if not self._allowed(request, user_id):
                raise NotAllowed
            if request.status is not RequestStatus.CLOSED:
                self.stop_request(s, request, now=now)
                jobs.enqueue_or_wake(s, kind=JobKind.CLOSE_ISSUE, request_id=request.id, due_at=now)
            return request.title

    @staticmethod
    def stop_request(session: Session, request: Request, *, now: datetime) -> None:
        request.status, request.closed_at, request.updated_at = RequestStatus.CLOSED, now, now
        queries.cancel_pending(session, [m.id for m in request.milestones], now=now)

    def anchor_field(self, request_id: int) -> tuple[SupportModel, FieldSpec]:
        """The support model of a request and the answer its plan counts from."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                raise Stale("That request no longer exists.")
            model = self.catalog.model(request.support_model)
        if model is None or model.plan is None:
            raise Stale("This kind of request has no dates to change.")
        return model, model.field(model.plan.anchor)

    def change_date_form(self, request_id: int, *, user_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                raise Stale("That request no longer exists.")
            if not self._allowed(request, user_id):
                raise NotAllowed
            model = self.catalog.model(request.support_model)
            if model is None or model.plan is None:
                raise Stale("This kind of request has no dates to change.")
            field = model.field(model.plan.anchor)
            current = request.answers.get(field.id)
            value: Any = None
            if current:
                value = datetime.fromisoformat(current) if field.type == "datetime" else date.fromisoformat(current)
            return forms.change_date_modal(request_id=request.id, request_title=request.title,
                                            field_label=field.label, field_type=field.type, current=value)

    def replan(self, request_id: int, *, user_id: str, new_value: Any, new_anchor: date,
               now: datetime) -> tuple[str, list[Milestone]]:
        """Move the open steps to the new anchor date; reminders and the GitLab checklist follow."""
        today = self.people.local_today(user_id, now)
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)
                                                          .selectinload(Milestone.reminders)])
            if request is None or request.status is RequestStatus.CLOSED:
                raise Stale("This request is closed.")
            if not self._allowed(request, user_id):
                raise NotAllowed
            model = self.catalog.model(request.support_model)
            assert model is not None and model.plan is not None
            self.apply_replan(s, request, model, new_value=new_value, new_anchor=new_anchor, today=today, now=now)
            return request.title, list(request.milestones)

    def apply_replan(self, session: Session, request: Request, model: SupportModel, *, new_value: Any,
                     new_anchor: date, today: date, now: datetime) -> list[Milestone]:
        """Re-plan a loaded request (milestones and reminders loaded) in the caller's transaction.

        Returns the milestones whose date moved.
        """
        assert model.plan is not None
        steps = [OpenStep(m.key, m.due_on, m.done_at is not None) for m in request.milestones]
        moved = {r.key: r for r in replan(model.plan, steps, new_anchor, today)}
        changed = []
        for m in request.milestones:
            if m.key not in moved:
                continue
            if m.due_on == moved[m.key].due_on:
                continue  # same date: its reminders stand (one already sent is not sent again)
            changed.append(m)
            m.due_on, m.pulled_forward = moved[m.key].due_on, moved[m.key].pulled_forward
            for r in m.reminders:
                r.due_at, r.zone_checked = self._due(session, m.due_on, r.recipient_id)
                r.snoozed = False
                r.sent_at, r.cancelled_at, r.claimed_until, r.attempts = None, None, None, 0
        request.anchor_date = new_anchor
        request.due_on = new_anchor
        request.answers = {**request.answers, **to_json({model.plan.anchor: new_value})}
        request.updated_at = now
        jobs.enqueue_or_wake(session, kind=JobKind.SYNC_CHECKLIST, request_id=request.id, due_at=now)
        return changed
