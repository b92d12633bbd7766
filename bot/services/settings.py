"""A person's reminder settings: read for the /learn settings form, saved with their pending reminders moved."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.domain.reminders import EARLIEST_ZONE
from bot.domain.settings import CheckedSettings, check_settings
from bot.gateways.slack import SlackFailure
from bot.messages.settings import settings_modal, settings_saved_view
from bot.services.calendar import supported_countries, zone_table
from bot.services.people import PeopleService, zone_named
from bot.services.reminders import ReminderService
from bot.store.db import Database
from bot.store.models import Person, Reminder

log = logging.getLogger(__name__)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # a person first stored by their settings is looked up in Slack


class SettingsService:
    def __init__(self, *, db: Database, people: PeopleService, reminders: ReminderService, team_hour: int):
        self.db = db
        self.people = people
        self.reminders = reminders
        self.team_hour = team_hour

    def form(self, user_id: str) -> dict[str, Any]:
        """The settings modal with what is stored now (local reads only: it opens with a trigger id)."""
        with self.db.session() as s:
            person = s.get(Person, user_id)
            tz = person.tz if person else None
            country, hour, paused = ((person.country, person.reminder_hour, person.paused_through) if person
                                     else (None, None, None))
        table = zone_table()
        return settings_modal(zone=tz, zone_country=table.country(tz), sharing=table.sharing(tz), country=country,
                              hour=hour, team_hour=self.team_hour, paused_through=paused)

    def open(self, trigger_id: str, user_id: str, *, now: datetime) -> None:
        """Open the form with the trigger id at once; then ask Slack for their zone (users.info) and, when it
        says something new, update the open form in place (its hash makes it lose to their own edits)."""
        before = self.form(user_id)
        opened = self.people.slack.open_view(trigger_id, before)
        self.people.refresh(user_id, now=now)
        after = self.form(user_id)
        if after != before:
            try:
                self.people.slack.update_view(opened["id"], after, opened.get("hash"))
            except SlackFailure as exc:
                log.info("settings form of %s not updated: %s", user_id, exc)

    def save(self, user_id: str, raw: Mapping[str, Any], *, now: datetime) -> tuple[CheckedSettings, dict[str, Any]]:
        """Check and store the settings; every pending reminder of this person moves to match."""
        checked = check_settings(raw, countries=supported_countries(), today=self.people.local_today(user_id, now))
        if checked.errors:
            return checked, {}
        with self.db.session() as s:
            person = s.get(Person, user_id)
            if person is None:
                person = Person(slack_user_id=user_id, refreshed_at=NEVER)
                s.add(person)
            person.country, person.reminder_hour, person.paused_through = (
                checked.country, checked.hour, checked.paused_through)
            tz = person.tz
            zone: ZoneInfo = zone_named(tz, EARLIEST_ZONE) if tz else EARLIEST_ZONE
            pending = s.scalars(
                select(Reminder).where(Reminder.recipient_id == user_id, Reminder.sent_at.is_(None),
                                       Reminder.cancelled_at.is_(None))
                .options(selectinload(Reminder.milestone))
            ).all()
            moved = 0
            for r in pending:
                if tz is None:  # zone unknown: the reminder stays early; delivery puts it right once it is known
                    continue
                if r.snoozed:
                    when = self.reminders.after_pause(r.due_at, zone=zone, country=checked.country, tz=tz,
                                                      hour=checked.hour, paused_through=checked.paused_through)
                else:
                    when = self.reminders.moment(r.milestone.due_on, tz=tz, zone=zone, country=checked.country,
                                                 hour=checked.hour, paused_through=checked.paused_through)
                if when != r.due_at:  # a worker holding it keeps its claim, and re-checks the moment itself
                    r.due_at = when
                    moved += 1
        country = checked.country or zone_table().country(tz)
        return checked, settings_saved_view(country=country, hour=self.team_hour if checked.hour is None else
                                            checked.hour, paused_through=checked.paused_through, moved=moved)
