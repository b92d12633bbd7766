"""People: cached Slack time zones and names, refreshed in bulk once a day (users.list, user_change)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from bot.gateways.pace import pace_of
from bot.gateways.slack import Profile, SlackFailure, SlackGateway
from bot.store.db import Database
from bot.store.models import DirectoryPass, Person

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(days=1)

# The daily pass over Slack's member list: 200 a page, as Slack's pagination guide advises.
DIRECTORY = "users.list"
PAGE_SIZE = 200
# users.list is Tier 2 (about 20 pages a minute): a page that would wait longer than this for the pace
# ends this run, and the next dispatch pass goes on from the stored cursor. No pass waits on it.
PAGE_PATIENCE = 5.0
RUN_BUDGET = 30.0  # seconds of pages per run at most, however fast Slack answers
LEASE = timedelta(minutes=5)  # one worker asks for pages at a time; a dead one's lease runs out


@dataclass(frozen=True)
class DirectoryRun:
    """What one run of the daily pass did: pages read, people stored, and whether the pass is complete."""

    pages: int
    people: int
    finished: bool
    error: str = ""  # Slack did not give the next page: the pass goes on from its cursor later



def zone_named(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The zone Slack names for a person, or `default` when there is none or it is not one Python knows."""
    try:
        return ZoneInfo(name) if name else default
    except (ZoneInfoNotFoundError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return default


def profile_of(user: dict[str, Any]) -> Profile | None:
    """A member's zone and name as users.list, users.info and user_change give them; None for bots and
    deactivated accounts (nobody reminds them)."""
    user_id = user.get("id")
    if not isinstance(user_id, str) or not user_id or user.get("is_bot") or user.get("deleted") \
            or user_id == "USLACKBOT":
        return None
    p = user.get("profile") or {}
    name = p.get("display_name") or p.get("real_name") or user.get("real_name") or user.get("name")
    tz = user.get("tz")
    return Profile(user_id=user_id, tz=tz if isinstance(tz, str) and tz else None,
                   display_name=str(name)[:200] if name else None)


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

    # --- in bulk: the daily users.list pass, and user_change events ---------------------------

    def refresh_directory(self, *, now: datetime, budget: float = RUN_BUDGET) -> DirectoryRun | None:
        """Go on with the daily pass over Slack's member list if one is due (None: not due, or another
        worker has it): pages of 200, each stored in one statement, until the pass is complete, the
        budget is spent or Slack's pace would make the next page wait; the cursor is kept for the next run."""
        claimed = self._claim_directory(now)
        if claimed is None:
            return None
        cursor: str | None = claimed
        pace = pace_of(self.slack.client)
        deadline = time.monotonic() + budget
        pages = stored = 0
        error, hold = "", None
        try:
            while time.monotonic() < deadline and (pace is None or pace.delay(DIRECTORY) <= PAGE_PATIENCE):
                members, cursor = self.slack.users_page(cursor, limit=PAGE_SIZE)
                stored += self.store_profiles(members, now=now)
                pages += 1
                self._advance_directory(cursor, now)
                if cursor is None:
                    break
        except SlackFailure as exc:  # Slack down, or refusing (a scope): reminders use the cache meanwhile
            error, hold = str(exc), now + LEASE  # tried again in a few minutes, not every pass
            log.warning("users.list pass paused: %s; reminders use the zones stored so far", exc)
            if exc.code == "invalid_cursor":  # the cursor went stale: the pass starts over
                self._advance_directory("", now)
        finally:
            with self.db.session() as s:
                s.execute(update(DirectoryPass).where(DirectoryPass.name == DIRECTORY).values(claimed_until=hold))
        run = DirectoryRun(pages=pages, people=stored, finished=pages > 0 and cursor is None and not error,
                           error=error)
        if run.finished:  # once a day; the passes in between are part of it, not news
            log.debug("users.list pass complete: zones and names of the workspace refreshed", extra={
                "event": "directory_pass", "pages": pages})
        return run

    def _claim_directory(self, now: datetime) -> str | None:
        """The cursor to go on from ("" to begin a pass) when a pass is due and no other worker has it."""
        try:
            with self.db.session() as s:
                if s.get(DirectoryPass, DIRECTORY) is None:
                    s.add(DirectoryPass(name=DIRECTORY))
        except IntegrityError:  # another worker made the row first
            pass
        with self.db.session() as s:
            result: Any = s.execute(
                update(DirectoryPass)
                .where(DirectoryPass.name == DIRECTORY,
                       or_(DirectoryPass.claimed_until.is_(None), DirectoryPass.claimed_until < now),
                       # under way, never run, a day old, or ahead of this clock (written by a moved one)
                       or_(DirectoryPass.started_at.is_not(None), DirectoryPass.finished_at.is_(None),
                           DirectoryPass.finished_at <= now - STALE_AFTER, DirectoryPass.finished_at > now + LEASE))
                .values(claimed_until=now + LEASE)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return None
            row = s.get(DirectoryPass, DIRECTORY)
            assert row is not None
            return row.cursor or ""

    def _advance_directory(self, cursor: str | None, now: datetime) -> None:
        with self.db.session() as s:
            row = s.get(DirectoryPass, DIRECTORY)
            assert row is not None
            row.cursor = cursor
            if cursor is None:
                row.started_at, row.finished_at = None, now
            else:
                row.started_at = row.started_at or now

    def store_profiles(self, users: Iterable[dict[str, Any]], *, now: datetime) -> int:
        """Upsert these members' zones and names (as Slack gives them) in one statement; how many stored."""
        rows = {p.user_id: {"slack_user_id": p.user_id, "tz": p.tz, "display_name": p.display_name,
                            "refreshed_at": now} for p in map(profile_of, users) if p is not None}
        if not rows:
            return 0
        insert = pg_insert if self.db.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(Person).values(list(rows.values()))
        stmt = stmt.on_conflict_do_update(index_elements=[Person.slack_user_id], set_={
            "tz": stmt.excluded.tz, "display_name": stmt.excluded.display_name,
            "refreshed_at": stmt.excluded.refreshed_at})
        with self.db.session() as s:
            s.execute(stmt)
        return len(rows)

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
        return zone_named(person.tz if person else None, self.default_zone)

    def local_today(self, user_id: str, now: datetime) -> date:
        return now.astimezone(self.zone(user_id)).date()

    def names(self, user_ids: list[str], *, now: datetime) -> dict[str, str]:
        """Display names for these users (asking Slack for unknown ones); the id when Slack has none."""
        out: dict[str, str] = {}
        for uid in dict.fromkeys(user_ids):
            person = self.refresh(uid, now=now)
            out[uid] = (person.display_name if person and person.display_name else uid)
        return out
