"""People: cached Slack time zones and names, refreshed when stale."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from bot.gateways.slack import Profile, SlackGateway
from bot.store.db import Database
from bot.store.models import Person

STALE_AFTER = timedelta(days=1)


class PeopleService:
    def __init__(self, *, db: Database, slack: SlackGateway, default_zone: ZoneInfo):
        self.db = db
        self.slack = slack
        self.default_zone = default_zone

    def refresh(self, user_id: str, *, now: datetime, force: bool = False) -> Person | None:
        """Ask Slack (users.info) for the person's tz and name unless the cached copy is fresh."""
        with self.db.session() as s:
            person = s.get(Person, user_id)
            if person is not None and not force and now - person.refreshed_at < STALE_AFTER:
                return person
        profile = self.slack.profile(user_id)
        if profile is None:
            return person
        try:
            return self._save(user_id, profile, now)
        except IntegrityError:  # another process stored this person first (several workers): update theirs
            return self._save(user_id, profile, now)

    def _save(self, user_id: str, profile: Profile, now: datetime) -> Person:
        with self.db.session() as s:
            person = s.get(Person, user_id) or Person(slack_user_id=user_id)
            person.tz = profile.tz
            person.display_name = profile.display_name
            person.refreshed_at = now
            s.add(person)
        return person

    @staticmethod
    def read(session: Session, user_ids: Iterable[str]) -> dict[str, Person]:
        """The stored people among these ids, in one SELECT (those never seen are simply absent).

        Identity-map hits cost nothing: only the ids this session has not loaded yet are asked for.
        """
        wanted = list(dict.fromkeys(user_ids))
        found = {uid: p for uid in wanted if (p := session.identity_map.get(identity_key(Person, uid))) is not None}
        missing = [uid for uid in wanted if uid not in found]
        if missing:
            found.update({p.slack_user_id: p for p in session.scalars(select(Person).where(
                Person.slack_user_id.in_(missing)))})
        return found

    def zone(self, user_id: str) -> ZoneInfo:
        with self.db.session() as s:
            return self.zone_in(s, user_id)

    def zone_in(self, session: Session, user_id: str) -> ZoneInfo:
        """The person's zone read in the caller's transaction (one transaction fewer on an answer's path)."""
        person = session.get(Person, user_id)
        tz = person.tz if person else None
        try:
            return ZoneInfo(tz) if tz else self.default_zone
        except (ZoneInfoNotFoundError, ValueError):
            return self.default_zone

    def local_today(self, user_id: str, now: datetime) -> date:
        return now.astimezone(self.zone(user_id)).date()

    def names(self, user_ids: list[str], *, now: datetime) -> dict[str, str]:
        """Display names for these users (asking Slack for unknown ones); the id when Slack has none."""
        out: dict[str, str] = {}
        for uid in dict.fromkeys(user_ids):
            person = self.refresh(uid, now=now)
            out[uid] = (person.display_name if person and person.display_name else uid)
        return out
