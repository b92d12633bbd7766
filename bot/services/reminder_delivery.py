"""Sending due reminders: one handler of the one runner (bot/services/runner.py).

A claimed batch is read once in the claim's transaction (steps, requests and people: three SELECTs);
each reminder is then put at its recipient's own moment (their zone, their leave), or sent, looking
in the DM's history first after an answer that may have been lost, so a person gets it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from bot.gateways.slack import SlackRefused, SlackSetupWrong, SlackUnavailable
from bot.services.notices import slack_outcome
from bot.services.people import PeopleService, zone_named
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, Wait
from bot.store.models import Milestone, Person, Reminder, RequestStatus
from bot.store.queues import REMINDERS

if TYPE_CHECKING:
    from bot.services.reminders import ReminderService

log = logging.getLogger(__name__)
EVENT_TYPE = "learnbot_reminder"
# A reminder Slack keeps failing (not refusing: that ends it at once) is dropped after this many tries,
# about a day with backoff capped at an hour: by then the step's date has passed.
MAX_ATTEMPTS = 24


@dataclass(frozen=True)
class _Due:
    """A claimed reminder as its delivery needs it (read in the claim's transaction)."""

    stop: str | None  # why it is cancelled instead (the step is done, the request closed)
    recipient: str
    snoozed: bool
    due_at: datetime
    nudge: int
    text: str
    body: list[dict[str, Any]]
    due_on: date
    request_id: int
    nudge_after_days: int | None
    # The recipient's cached zone, when it was refreshed, country, reminder hour, leave (None: never seen).
    person: tuple[str | None, datetime, str | None, int | None, date | None] | None


def _cancelled(_s: Session, r: Reminder) -> None:
    r.sent_at, r.cancelled_at = None, r.sent_at  # marked done a moment ago: it is a cancel, not a send


def _zone_checked(_s: Session, r: Reminder) -> None:
    r.zone_checked = True


def _placed(due_at: datetime, *, checked: bool) -> Callable[[Session, Reminder], None]:
    """Write the moment the reminder is really due (its recipient's zone, their leave)."""

    def place(_s: Session, r: Reminder) -> None:
        r.due_at = due_at
        if checked:
            r.zone_checked = True

    return place


class ReminderDelivery:
    def __init__(self, reminders: ReminderService):
        self.reminders = reminders
        self.handler = Kind("reminder", REMINDERS, self.deliver, take=self.take, load=self.prepare, fan_out=True,
                            max_attempts=MAX_ATTEMPTS, part="reminders",
                            hold_off=reminders.slack.posting_delay)

    def prepare(self, session: Session, rows: list[Reminder]) -> None:
        """A claimed batch's steps, requests and people in three SELECTs, not three per reminder."""
        milestones = {r.milestone_id for r in rows}
        list(session.scalars(select(Milestone).where(Milestone.id.in_(milestones))
                             .options(selectinload(Milestone.request))))
        PeopleService.read(session, [r.recipient_id for r in rows])

    def take(self, r: Reminder) -> _Due:
        """What delivering this reminder needs, read in the claim's transaction."""
        m, request = r.milestone, r.milestone.request
        stopped = request.status is RequestStatus.FAILED or (
            request.status is RequestStatus.CLOSED and not self.reminders.outlives_close(request, m))
        session = object_session(r)
        assert session is not None
        person = session.get(Person, r.recipient_id)  # in the identity map since _prepare: no SELECT
        text, body = self.reminders._message(request, m, reminder_id=r.id, nudge=r.nudges > 0)
        spec = self.reminders._spec(request, m.key)
        return _Due(
            stop="request closed or step done" if stopped or m.done_at is not None else None,
            recipient=r.recipient_id, snoozed=r.snoozed, due_at=r.due_at, nudge=r.nudges, text=text, body=body,
            due_on=m.due_on, request_id=request.id, nudge_after_days=spec.nudge_after_days if spec else None,
            person=(person.tz, person.refreshed_at, person.country, person.reminder_hour, person.paused_through)
            if person is not None else None)

    def deliver(self, claim: Claim, now: datetime) -> Outcome:
        due: _Due = claim.data
        if due.stop is not None:
            return Done("cancelled", due.stop, record=_cancelled)
        tz, _refreshed, country, hour, paused = due.person or (None, None, None, None, None)
        # As cached: the daily users.list pass and user_change events keep it current (bot/services/people.py).
        fresh_tz = tz
        placed: Callable[[Session, Reminder], None] | None = None
        if due.snoozed and paused is not None:
            zone = zone_named(fresh_tz or tz, self.reminders.default_zone)
            later = self.reminders.after_pause(due.due_at, zone=zone, country=country, tz=fresh_tz, hour=hour,
                                     paused_through=paused)
            if later != due.due_at:
                return Wait(later, said="rescheduled", record=_placed(later, checked=False))
        if not due.snoozed:
            # Due at the reminder hour in the recipient's zone as Slack says it is now (the cache the
            # daily users.list pass keeps; users.info only for someone never seen): someone who moved,
            # or whose zone was not known yet, gets it at their own 09:00.
            if fresh_tz is None:
                person = self.reminders.people.refresh(due.recipient, now=now)
                fresh_tz = person.tz if person is not None else None
            zone = zone_named(fresh_tz, self.reminders.default_zone)
            correct = self.reminders.moment(due.due_on, tz=fresh_tz, zone=zone, country=country, hour=hour,
                                            paused_through=paused)
            if correct != due.due_at:
                if correct > now:
                    return Wait(correct, said="rescheduled", record=_placed(correct, checked=True))
                placed = _placed(correct, checked=True)  # due already in their zone too: sent now
        return self._send(claim, due, placed, now)

    def _send(self, claim: Claim, due: _Due, placed: Callable[[Session, Reminder], None] | None,
              now: datetime) -> Outcome:
        match: dict[str, Any] = {"reminder_id": claim.id, **({"nudge": due.nudge} if due.nudge else {})}
        metadata = {"event_type": EVENT_TYPE, "event_payload": match}
        try:
            # After a 5xx or a lost answer Slack may have posted it: look in the DM's history first.
            found = (self.reminders.slack.find_dm_with_metadata(due.recipient, EVENT_TYPE, match)
                     if claim.attempt > 1 else None)
            posted = found or self.reminders.slack.send_dm(due.recipient, due.text, due.body, metadata=metadata)
        except SlackRefused as exc:
            log.error("reminder %s cannot be delivered: %s", claim.id, exc)
            return GiveUp(str(exc), said="cancelled")
        except (SlackUnavailable, SlackSetupWrong) as exc:  # our token or scopes: it waits for the fix, not dropped
            return replace(slack_outcome(exc, now=now), record=_zone_checked if placed is not None else None)

        def sent(s: Session, row: Reminder) -> None:
            if placed is not None:
                placed(s, row)
            row.slack_channel, row.slack_ts = posted.channel, posted.ts
            log.info("reminder %s sent to %s", row.id, row.recipient_id, extra={
                "event": "reminder_sent", "reminder_id": row.id, "slack_user": row.recipient_id,
                "request_id": due.request_id})
            if due.nudge_after_days and row.nudges == 0:
                # One more reminder later if the step is still open (done or closed cancels it, as always).
                later = max(due.due_on, now.date()) + timedelta(days=due.nudge_after_days)
                row.due_at, _ = self.reminders._due(s, later, row.recipient_id)
                row.sent_at, row.nudges, row.snoozed, row.attempts = None, 1, True, 0

        return Done("already sent" if found else "sent", record=sent)

    # --- what kind of step ---------------------------------------------------------------------
