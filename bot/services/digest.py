"""The channel digest: what is new, waiting for triage, coming up and overdue — posted once per period."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from bot.catalog import LoadedCatalog
from bot.domain.decisions import decision_text
from bot.domain.schedule import cron_trigger
from bot.gateways.slack import SlackFailure, SlackGateway
from bot.messages.digest import Digest as DigestMessage
from bot.messages.digest import DigestItem, DigestSection, digest_message
from bot.messages.home import Bounded, OverdueStep, RequestLine
from bot.services.overview import OverviewService
from bot.store.db import Database
from bot.store.models import Digest

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
CATCH_UP = timedelta(hours=12)  # a worker down at the digest's hour still posts it within this window
COMING_UP = timedelta(weeks=4)
REVIEWS_AHEAD = timedelta(days=6)  # "this week": today and the six days after
PER_SECTION = 10


class DigestError(Exception):
    """The digest could not be posted (Slack refused it); says why."""


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str | None
    period_key: str
    skipped: str | None = None  # why nothing was posted (already posted this period, no channel …)


def previous_fire(cron: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest time ≤ now at which `cron` fires in `zone` (the start of the current period)."""
    trigger = cron_trigger(cron, zone)
    for lookback in (timedelta(days=2), timedelta(days=40), timedelta(days=400)):
        fire = trigger.get_next_fire_time(None, now - lookback)
        last = None
        for _ in range(20_000):
            if fire is None or fire > now:
                break
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None:
            return last
    raise ValueError(f"the digest cron {cron!r} has not fired in the last 400 days")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def issues_list_url(gitlab_url: str, project: str | None, example_issue_url: str | None) -> str | None:
    """The project's open-issue list, for "and N more" links."""
    if example_issue_url and "/-/issues/" in example_issue_url:
        return example_issue_url.split("/-/issues/")[0] + "/-/issues?state=opened"
    if project and not project.isdigit():
        return f"{gitlab_url.rstrip('/')}/{project.strip('/')}/-/issues?state=opened"
    return None


class DigestService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, overview: OverviewService, slack: SlackGateway,
                 channel: str | None, cron: str, zone: ZoneInfo, gitlab_url: str, gitlab_project: str | None):
        self.db = db
        self.catalog = catalog
        self.overview = overview
        self.slack = slack
        self.channel = channel
        self.cron = cron
        self.zone = zone
        self.gitlab_url = gitlab_url
        self.gitlab_project = gitlab_project

    # --- building ------------------------------------------------------------------------------

    def build(self, *, since: datetime, now: datetime) -> DigestMessage:
        today = now.astimezone(self.zone).date()
        new = self.overview.new_since(since, limit=PER_SECTION)
        queue = self.overview.triage_queue(limit=PER_SECTION)
        coming = self.overview.coming_up(today, today + COMING_UP, limit=PER_SECTION)
        overdue = self.overview.overdue(today, limit=PER_SECTION)
        reviews = self.overview.reviews_due(today, today + REVIEWS_AHEAD, limit=PER_SECTION)
        example = next((ln.url for b in (new, queue, coming) for ln in b.shown if ln.url), None)
        example = example or next((o.url for o in overdue.shown if o.url), None)
        more = issues_list_url(self.gitlab_url, self.gitlab_project, example)
        local_since = since.astimezone(self.zone)
        return DigestMessage(
            heading=f"L&D digest — {now.astimezone(self.zone):%A %d %B %Y}",
            sections=[
                self._section("new", f":inbox_tray: New requests since {local_since:%a %d %b}", new,
                              lambda ln: self._item(ln, when=ln.created_at.astimezone(self.zone).date()), more,
                              "No new requests."),
                self._section("triage", ":scales: Triage queue, highest score first", queue,
                              lambda ln: self._item(ln, score=ln.score,
                                                    decision=decision_text(ln.decision, ln.created_at, now)),
                              more, "Nothing waiting for triage."),
                self._section("upcoming", ":calendar: Launches, sessions and due dates in the next 4 weeks",
                              coming, lambda ln: self._item(ln, when=ln.when, step=self._anchor_label(ln)), more,
                              "Nothing coming up."),
                self._section("overdue", ":warning: Overdue steps", overdue, self._overdue_item, more,
                              "Nothing overdue."),
                self._section("reviews", ":recycle: Evergreen reviews due this week", reviews, self._overdue_item,
                              more, "No evergreen review due."),
            ],
        )

    def _anchor_label(self, line: RequestLine) -> str | None:
        model = next((m for m in self.catalog.models if m.name == line.model_name), None)
        if model is None or model.plan is None:
            return None
        return model.field(model.plan.anchor).label

    @staticmethod
    def _item(line: RequestLine, *, when: date | None = None, score: int | None = None,
              step: str | None = None, decision: str | None = None) -> DigestItem:
        return DigestItem(title=line.title, url=line.url, model_name=line.model_name,
                          requester_id=line.requester_id, when=when, score=score, step=step, decision=decision)

    @staticmethod
    def _overdue_item(o: OverdueStep) -> DigestItem:
        return DigestItem(title=o.request_title, url=o.url, model_name=o.model_name, requester_id=o.owners[0],
                          when=o.due_on, step=o.step, owners=o.owners)

    @staticmethod
    def _section(key: str, title: str, bounded: Bounded[Any], to_item: Callable[[Any], DigestItem],
                 more_url: str | None, empty: str) -> DigestSection:
        return DigestSection(key=key, title=title, items=[to_item(x) for x in bounded.shown], more_url=more_url,
                             empty_text=empty, total=bounded.total)

    # --- posting -------------------------------------------------------------------------------

    def run_due(self, *, now: datetime) -> Posted | None:
        """The scheduled digest of the current period, if nobody has posted it yet (several workers: one posts)."""
        if not self.channel:
            return None
        start = previous_fire(self.cron, self.zone, now)
        if now - start > CATCH_UP:
            return None
        key = f"{self.channel}@{start.isoformat()}"
        digest_id = self._claim(key, self.channel, start, now)
        if digest_id is None:
            return None
        return self._post(digest_id, key, self.channel, now=now)

    def due(self, *, now: datetime) -> tuple[str, datetime] | None:
        """(channel, period start) of the scheduled digest run_due would post at `now`; reads, changes nothing."""
        if not self.channel:
            return None
        start = previous_fire(self.cron, self.zone, now)
        if now - start > CATCH_UP:
            return None
        with self.db.session() as s:
            posted = s.scalar(select(Digest.id).where(Digest.period_key == f"{self.channel}@{start.isoformat()}",
                                                      Digest.posted_at.is_not(None)))
        return None if posted is not None else (self.channel, start)

    def rehearse(self, *, now: datetime, channel: str | None = None) -> tuple[str, DigestMessage]:
        """(channel, digest) post_now would post at `now`: built, not posted, nothing recorded."""
        channel = channel or self.channel
        if not channel:
            raise DigestError("no channel: set LEARNBOT_DIGEST_CHANNEL or pass --channel")
        return channel, self.build(since=self._since(channel, now, exclude=0), now=now)

    def post_now(self, *, now: datetime, channel: str | None = None) -> Posted:
        """On demand (`learnbot digest`): always posts, and counts as the latest digest of the channel."""
        channel = channel or self.channel
        if not channel:
            raise DigestError("no channel: set LEARNBOT_DIGEST_CHANNEL or pass --channel")
        key = f"{channel}@manual:{uuid.uuid4().hex}"
        digest_id = self._claim(key, channel, now, now)
        assert digest_id is not None
        return self._post(digest_id, key, channel, now=now, raise_errors=True)

    def _claim(self, key: str, channel: str, start: datetime, now: datetime) -> int | None:
        try:
            with self.db.session() as s:
                row = Digest(period_key=key, channel=channel, period_start=start, claimed_until=now + LEASE,
                             attempts=1)
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:
            pass  # another worker made this period's row first
        with self.db.session() as s:
            query = select(Digest).where(Digest.period_key == key, Digest.posted_at.is_(None),
                                         or_(Digest.claimed_until.is_(None), Digest.claimed_until < now))
            if s.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            held = s.scalars(query).first()
            if held is None:
                return None  # posted already, or another worker is posting it right now
            held.claimed_until, held.attempts = now + LEASE, held.attempts + 1
            return held.id

    def _since(self, channel: str, now: datetime, exclude: int) -> datetime:
        with self.db.session() as s:
            last = s.scalar(select(Digest.posted_at).where(Digest.channel == channel, Digest.posted_at.is_not(None),
                                                           Digest.id != exclude)
                            .order_by(Digest.posted_at.desc()).limit(1))
        return last or now - timedelta(days=7)

    def _post(self, digest_id: int, key: str, channel: str, *, now: datetime, raise_errors: bool = False) -> Posted:
        try:
            text, body = digest_message(self.build(since=self._since(channel, now, digest_id), now=now),
                                        per_section=PER_SECTION)
            posted = self.slack.post_message(channel, text, body)
        except Exception as exc:  # recorded on the digest row, tried again in a minute; never stops a pass
            refused = isinstance(exc, SlackFailure) and bool(exc.code)  # Slack answered with an error
            unreachable = isinstance(exc, SlackFailure) and not exc.code
            if isinstance(exc, SlackFailure) and refused:
                reason = exc.code
            elif unreachable:
                reason = f"Slack unreachable ({_first_line(exc)})"
            else:
                log.exception("digest to %s could not be built", channel)
                reason = f"{type(exc).__name__}: {_first_line(exc)}"
            with self.db.session() as s:
                row = s.get(Digest, digest_id)
                assert row is not None
                row.claimed_until, row.last_error = now + timedelta(minutes=1), str(reason)[:2000]
            log.error("digest to %s failed: %s", channel, reason)
            if raise_errors:
                if refused:
                    hint = " (invite learnbot to the channel, or check its id)" if reason in (
                        "channel_not_found", "not_in_channel", "is_archived") else ""
                    raise DigestError(f"Slack refused the digest for {channel}: {reason}{hint}") from exc
                if unreachable:
                    raise DigestError(f"{reason}: the digest for {channel} was not posted; check SLACK_API_URL "
                                      "and the network, then try again") from exc
                raise DigestError(f"the digest for {channel} could not be built: {reason}") from exc
            return Posted(channel, None, key, skipped=f"Slack: {reason}" if refused else reason)
        with self.db.session() as s:
            row = s.get(Digest, digest_id)
            assert row is not None
            row.posted_at, row.slack_ts, row.claimed_until, row.last_error = now, posted.ts, None, None
        log.info("digest posted to %s (%s)", channel, key)
        return Posted(posted.channel, posted.ts, key)
