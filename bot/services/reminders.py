"""Reminders: planning them per recipient, delivering each exactly once, and what their buttons do."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.catalog import FieldSpec, LoadedCatalog, MilestoneSpec, SupportModel
from bot.domain.after_launch import REVIEW_KEY, next_review, outlives_close, review_title
from bot.domain.holidays import reminder_day, working_day_after
from bot.domain.limits import clamp_pause
from bot.domain.reminders import EARLIEST_ZONE, OpenStep, due_moment, recipients, replan, snoozed_until
from bot.domain.routing import co_owners
from bot.domain.safe_text import slack_escape
from bot.domain.validation import to_json
from bot.gateways.slack import SlackGateway
from bot.messages import forms
from bot.messages.after_launch import follow_up_message, review_message
from bot.messages.reminders import reminder_message
from bot.services.calendar import HolidayCalendar, zone_table
from bot.services.people import PeopleService
from bot.services.runner import Result
from bot.store import jobs
from bot.store import reminders as queries
from bot.store.db import Database, insert_rows
from bot.store.models import JobKind, Milestone, Person, Reminder, Request, RequestStatus, utcnow

log = logging.getLogger(__name__)
# Public holidays can move a reminder back over a week (a holiday week and the weekend before it).
UNKNOWN_ZONE_LEAD = timedelta(days=10)


# A delivery's result: its status (done, retry, waiting, failed, skipped) and what happened: "sent",
# "already sent" (found in the DM's history after an ambiguous failure), "rescheduled" (the recipient's
# time zone or leave put it later), "cancelled" (the step is done or the request closed).
DeliveryResult = Result


class NotAllowed(Exception):
    """The person pressing the button is not the requester, a co-owner or an L&D admin."""


class Stale(Exception):
    """The button belongs to something that has changed (done already, closed, re-planned)."""


CLOSED = "This request is closed."


class ReminderService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, people: PeopleService,
                 admins: frozenset[str], reminder_hour: int, default_zone: ZoneInfo,
                 calendar: HolidayCalendar | None = None):
        self.db = db
        self.calendar = calendar or HolidayCalendar()
        self.catalog = catalog
        self.slack = slack
        self.people = people
        self.admins = admins
        self.hour = reminder_hour
        self.default_zone = default_zone
        # Told, in the same transaction, of a step done or a request closed from Slack (the decision thread).
        self.history: Callable[[Session, Request, str, str, datetime], object] | None = None
        # Told, in the same transaction, of a request closed (from Slack or GitLab) and of a launch date that
        # moved: outcome check-ins and the satisfaction question follow (bot/services/feedback.py). on_closed
        # returns the ids of the notices it owes.
        self.on_closed: Callable[[Session, Request, datetime], list[int]] | None = None
        self.on_replanned: Callable[[Session, Request], None] | None = None
        from bot.services.reminder_delivery import ReminderDelivery

        self.handler = ReminderDelivery(self).handler

    # --- planning ----------------------------------------------------------------------------

    @staticmethod
    def _zone_known(person: Person | None) -> ZoneInfo | None:
        if person is None or not person.tz:
            return None
        try:
            return ZoneInfo(person.tz)
        except (KeyError, ValueError):
            return None

    def _due(self, session: Session, day: date, user_id: str) -> tuple[datetime, bool]:
        return self._due_for(day, session.get(Person, user_id))

    def _due_for(self, day: date, person: Person | None) -> tuple[datetime, bool]:
        """When this person's reminder for `day` is due, and whether that moment is in their known zone."""
        zone = self._zone_known(person)
        if zone is None or person is None:
            # Neither their zone nor their country (holidays) is known yet: check early enough for any
            # of them; delivery then reads the zone and puts the reminder at its real moment.
            return due_moment(day - UNKNOWN_ZONE_LEAD, 0, EARLIEST_ZONE), False
        moment = self.moment(day, tz=person.tz, zone=zone, country=person.country, hour=person.reminder_hour,
                             paused_through=person.paused_through)
        return moment, True

    def moment(self, day: date, *, tz: str | None, zone: ZoneInfo, country: str | None, hour: int | None,
               paused_through: date | None) -> datetime:
        """When one person's reminder for `day` is due: their reminder hour on the working day on or
        before it in their country (weekends and public holidays skipped), after any leave they set."""
        country = country or zone_table().country(tz)
        on = reminder_day(day, is_holiday=self.calendar.is_holiday_in(country), paused_through=paused_through)
        return due_moment(on, self.hour if hour is None else hour, zone)

    def after_pause(self, moment: datetime, *, zone: ZoneInfo, country: str | None, tz: str | None,
                    hour: int | None, paused_through: date | None) -> datetime:
        """A snoozed reminder keeps its moment, unless that falls in the person's leave."""
        paused_through = clamp_pause(paused_through, moment.astimezone(zone).date())
        if paused_through is None or moment.astimezone(zone).date() > paused_through:
            return moment
        country = country or zone_table().country(tz)
        back = working_day_after(paused_through, self.calendar.is_holiday_in(country))
        return due_moment(back, self.hour if hour is None else hour, zone)

    def plan_for(self, session: Session, request: Request, model: SupportModel) -> None:
        """Reminder rows for every open milestone and every recipient (requester and co-owners)."""
        session.flush()  # the milestones' ids
        self.plan_reminders(session, requester_id=request.requester_id, answers=request.answers, model=model,
                            open_milestones=[(m.id, m.due_on) for m in request.milestones if m.done_at is None])

    def plan_reminders(self, session: Session, *, requester_id: str, answers: dict[str, Any], model: SupportModel,
                       open_milestones: list[tuple[int, date]]) -> None:
        """plan_for with the milestones already stored: one INSERT for all (this runs before Slack's answer)."""
        people = recipients(requester_id, co_owners(model, answers, requester_id))
        known = self.people.read(session, people)  # each person read once, in one statement
        rows = []
        for milestone_id, day in open_milestones:
            for person in people:
                # Their hour on the working day on or before it where they live (weekends, public holidays,
                # leave), or early enough for any zone while theirs is not known.
                due_at, checked = self._due_for(day, known.get(person))
                rows.append({"milestone_id": milestone_id, "recipient_id": person, "zone_checked": checked,
                             "due_at": due_at})
        if rows:
            session.execute(insert_rows(Reminder), rows)

    def plan_review_on_publish(self, s: Session, request: Request, *, now: datetime) -> bool:
        """A model without a plan (an LXP contribution) is published when its issue is closed: its first
        evergreen review is then planned, for the requester and co-owners (in the caller's transaction)."""
        model = self.catalog.model(request.support_model)
        if model is None or model.review_after is None or model.plan is not None:
            return False
        if any(m.key == REVIEW_KEY for m in request.milestones):
            return False
        due = next_review(now.date(), model.review_after)
        milestone = Milestone(key=REVIEW_KEY, title=review_title(model.review_after), due_on=due,
                              position=len(request.milestones))
        request.milestones.append(milestone)
        request.anchor_date = request.anchor_date or now.date()  # launched: the review outlives the closed issue
        for person in recipients(request.requester_id, co_owners(model, request.answers, request.requester_id)):
            due_at, checked = self._due(s, due, person)
            milestone.reminders.append(Reminder(recipient_id=person, due_at=due_at, zone_checked=checked))
        return True

    # --- delivery ----------------------------------------------------------------------------

    def _load(self, session: Session, reminder_id: int) -> Reminder | None:
        """The reminder with its step and request; None once retention has purged it (a closed request's)."""
        return session.scalars(
            select(Reminder).where(Reminder.id == reminder_id)
            .options(selectinload(Reminder.milestone).selectinload(Milestone.request))
        ).first()

    def _pressed(self, session: Session, reminder_id: int) -> Reminder:
        """The reminder whose button was pressed. Its DM keeps the buttons after retention purged the
        reminders of a closed request: pressing one then says the request is closed."""
        reminder = self._load(session, reminder_id)
        if reminder is None:
            raise Stale(CLOSED)
        return reminder

    def _spec(self, request: Request, key: str) -> MilestoneSpec | None:
        model = self.catalog.model(request.support_model)
        if model is None or model.plan is None:
            return None
        return next((m for m in model.plan.milestones if m.key == key), None)

    @staticmethod
    def outlives_close(request: Request, milestone: Milestone) -> bool:
        closed_on = (request.closed_at or utcnow()).date()
        return outlives_close(milestone.key, request.anchor_date or closed_on, closed_on)

    def _message(self, request: Request, m: Milestone, *, reminder_id: int,
                 nudge: bool) -> tuple[str, list[dict[str, Any]]]:
        """The DM for this kind of step: an evergreen review, a follow-up form, or a plain step."""
        model = self.catalog.model(request.support_model)
        if m.key == REVIEW_KEY and model is not None and model.review_after is not None:
            return review_message(reminder_id=reminder_id, request_title=request.title, issue_url=request.gitlab_url,
                                  interval=model.review_after.describe(), nudge=nudge)
        spec = self._spec(request, m.key)
        if spec is not None and spec.follow_up:
            return follow_up_message(reminder_id=reminder_id, step=m.title, request_title=request.title,
                                     issue_url=request.gitlab_url, nudge=nudge)
        return reminder_message(reminder_id=reminder_id, step=m.title, due_on=m.due_on, request_title=request.title,
                                issue_url=request.gitlab_url, late=m.pulled_forward)

    # --- buttons -----------------------------------------------------------------------------

    def _allowed(self, request: Request, user_id: str) -> bool:
        model = self.catalog.model(request.support_model)
        owners = recipients(request.requester_id,
                            co_owners(model, request.answers, request.requester_id) if model else [])
        return user_id in owners or user_id in self.admins

    def mark_done(self, reminder_id: int, *, user_id: str, now: datetime) -> tuple[str, list[dict[str, Any]]]:
        """Record the step as done (for everyone), stop its other reminders, queue the GitLab tick."""
        with self.db.session() as s:
            r = self._pressed(s, reminder_id)
            m, request = r.milestone, r.milestone.request
            if not self._allowed(request, user_id):
                raise NotAllowed
            if request.status is RequestStatus.CLOSED:
                raise Stale(CLOSED)
            if m.done_at is None:
                m.done_at, m.done_by = now, user_id
                queries.cancel_pending(s, [m.id], now=now)
                jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request.id, due_at=now)
                if self.history is not None:
                    self.history(s, request, f"step:{m.id}", f"<@{user_id}> marked “{slack_escape(m.title)}” done", now)
            note = f"on {m.done_at.date().isoformat()}" if m.done_by == user_id else "(already done)"
            return reminder_message(reminder_id=r.id, step=m.title, due_on=m.due_on, request_title=request.title,
                                    issue_url=request.gitlab_url, late=False, state="done",
                                    actor=m.done_by or user_id, note=note)

    def snooze(self, reminder_id: int, *, how: str, user_id: str, now: datetime) -> tuple[str, list[dict[str, Any]]]:
        """Move only this reminder (this person's), by a day or a week."""
        with self.db.session() as s:
            r = self._pressed(s, reminder_id)
            m, request = r.milestone, r.milestone.request
            if not self._allowed(request, user_id):
                raise NotAllowed
            closed = request.status is RequestStatus.CLOSED and not self.outlives_close(request, m)
            if m.done_at is not None or closed:
                raise Stale("This step is already done." if m.done_at else CLOSED)
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
                if self.history is not None:
                    self.history(s, request, f"closed:{now.timestamp()}", f"<@{user_id}> closed the request in Slack",
                                 now)
                self.closed(s, request, now=now)  # its DMs go with the worker's next pass
            return request.title

    def closed(self, s: Session, request: Request, *, now: datetime) -> list[int]:
        """A request was closed by a person (not an operator's cancel): the notices its end owes."""
        return self.on_closed(s, request, now) if self.on_closed is not None else []

    @staticmethod
    def stop_request(session: Session, request: Request, *, now: datetime) -> None:
        request.status, request.closed_at, request.updated_at = RequestStatus.CLOSED, now, now
        # An evergreen review outlives an issue closed after the launch (the content is live); nothing else does.
        queries.cancel_pending(session, [m.id for m in request.milestones
                                         if not outlives_close(m.key, request.anchor_date, now.date())], now=now)

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
                raise Stale(CLOSED)
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
                r.snoozed, r.nudges = False, 0
                r.sent_at, r.cancelled_at, r.claimed_until, r.attempts = None, None, None, 0
        if model.review_after is not None:  # the evergreen review counts from the launch too
            for m in request.milestones:
                if m.key == REVIEW_KEY and m.done_at is None:
                    due = next_review(new_anchor, model.review_after)
                    if due != m.due_on:
                        changed.append(m)
                        m.due_on = due
                        for r in m.reminders:
                            r.due_at, r.zone_checked = self._due(session, due, r.recipient_id)
                            r.snoozed, r.nudges = False, 0
                            r.sent_at, r.cancelled_at, r.claimed_until, r.attempts = None, None, None, 0
        request.anchor_date = new_anchor
        request.due_on = new_anchor
        request.answers = {**request.answers, **to_json({model.plan.anchor: new_value})}
        if self.on_replanned is not None:
            self.on_replanned(session, request)
        request.updated_at = now
        jobs.enqueue_or_wake(session, kind=JobKind.SYNC_CHECKLIST, request_id=request.id, due_at=now)
        return changed
