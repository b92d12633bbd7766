"""Bounded tables: dispatch purges old, finished rows in small batches (LEARNBOT_RETENTION_DAYS), hourly.

What goes: webhook deliveries handled before the cut-off, finished jobs, and the notices and
reminders of requests closed before it (sent, given up or cancelled). What stays: the requests
themselves, their milestones, and anything still owed to someone.

Each batch is its own short transaction deleting at most `batch` rows picked by an index, so a
purge never holds a long lock and a pass does at most `max_batches` of them (the rest next pass).

History is free: a purge costs the rows that became old since the last one, not the rows kept.
- It runs at most once an hour (`purge_if_due`, from the dispatch pass's housekeeping): the time
  of the last complete purge is the heartbeat row "retention".
- Deliveries and jobs are picked from the start of their time index: every row there is one to
  delete, so a batch reads what it deletes and nothing else.
- Notices and reminders stay while their request is open, so their time index also holds rows
  that are kept. They are found from three sides, each a range of an index between a watermark
  and the cut-off: the requests closed since the last purge (their rows sent before it), and the
  rows sent (given up, cancelled) since the last purge whose request was closed before the
  cut-off. A row is old once both its own time and its request's close are before the cut-off,
  and the later of the two falls in one of those ranges. Each side keeps its own watermark (a
  heartbeat row "retention:<side>"), moved on batch by batch, so a purge stopped at `max_batches`
  (or a first purge over years of history) goes on where it stopped and never reads a range twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from bot import metrics
from bot.store.db import Database
from bot.store.models import (
    Heartbeat,
    Job,
    Milestone,
    Notice,
    Reminder,
    Request,
    RequestStatus,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

PAUSE = 0.02  # seconds between two batches of one pass
EVERY = timedelta(hours=1)  # a purge runs at most this often
SKEW = timedelta(minutes=5)  # a last purge further ahead than this was written by a moved clock
LAST_PURGE = "retention"  # heartbeat row: when the last purge that finished everything ran (its `now`)


@dataclass
class PurgeReport:
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0  # transactions that deleted rows (max_batches counts these; a range found empty is a read)
    more: bool = False  # stopped at max_batches with rows left: the next pass goes on
    ran: bool = True  # False: not due (a purge ran less than an hour ago)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


@dataclass(frozen=True)
class _Side:
    """One way to find rows to delete: an index range [watermark, cut-off) on `at`, oldest first.

    `watermark` names its heartbeat row; None: no watermark, the range starts at the index's start
    (every row in it is deleted, so nothing is read twice)."""

    table: str
    model: Any
    at: Any  # the column the range runs on (selected beside the id: the next batch starts there)
    where: Callable[[datetime], tuple[ColumnElement[bool], ...]]
    join: Callable[[Select[Any]], Select[Any]] = lambda q: q
    watermark: str | None = None

    def pick(self, cutoff: datetime, since: datetime | None, batch: int) -> Select[Any]:
        query = self.join(select(self.model.id, self.at)).where(self.at.is_not(None), self.at < cutoff,
                                                                *self.where(cutoff))
        if since is not None:
            query = query.where(self.at >= since)
        return query.order_by(self.at).limit(batch)


def _closed(cutoff: datetime) -> ColumnElement[bool]:
    return and_(Request.status == RequestStatus.CLOSED, Request.closed_at < cutoff)


def _notice_done(cutoff: datetime) -> ColumnElement[bool]:
    return or_(Notice.sent_at < cutoff, Notice.failed_at < cutoff)


def _reminder_done(cutoff: datetime) -> ColumnElement[bool]:
    return or_(Reminder.sent_at < cutoff, Reminder.cancelled_at < cutoff)


# The rows sent since the last purge lead, and their request is looked up for each one (EXISTS, not a
# join): a join would let SQLite, which keeps no statistics, start from every closed request instead.
def _notice_of_closed(cutoff: datetime) -> ColumnElement[bool]:
    return select(Request.id).where(Request.id == Notice.request_id, _closed(cutoff)).exists()


def _reminder_of_closed(cutoff: datetime) -> ColumnElement[bool]:
    return (select(Milestone.id).join(Request, Milestone.request_id == Request.id)
            .where(Milestone.id == Reminder.milestone_id, _closed(cutoff)).exists())


def _closed_requests_notices(q: Select[Any]) -> Select[Any]:
    return q.select_from(Request).join(Notice, Notice.request_id == Request.id)


def _closed_requests_reminders(q: Select[Any]) -> Select[Any]:
    return (q.select_from(Request).join(Milestone, Milestone.request_id == Request.id)
            .join(Reminder, Reminder.milestone_id == Milestone.id))


# In the order they are purged. Indexes: ix_webhook_deliveries_processed_at, ix_jobs_finished_at,
# ix_requests_closed, ix_notices_sent_at, ix_notices_failed_at, ix_reminders_sent_at,
# ix_reminders_cancelled_at (bot/store/models.py), each a range read from its watermark.
SIDES = (
    _Side("webhook_deliveries", WebhookDelivery, WebhookDelivery.processed_at, lambda c: ()),
    _Side("jobs", Job, Job.finished_at, lambda c: ()),
    _Side("notices", Notice, Request.closed_at, lambda c: (Request.status == RequestStatus.CLOSED, _notice_done(c)),
          _closed_requests_notices, "retention:notices:closed"),
    _Side("notices", Notice, Notice.sent_at, lambda c: (_notice_of_closed(c),),
          watermark="retention:notices:sent"),
    _Side("notices", Notice, Notice.failed_at, lambda c: (_notice_of_closed(c),),
          watermark="retention:notices:failed"),
    _Side("reminders", Reminder, Request.closed_at,
          lambda c: (Request.status == RequestStatus.CLOSED, _reminder_done(c)), _closed_requests_reminders,
          "retention:reminders:closed"),
    _Side("reminders", Reminder, Reminder.sent_at, lambda c: (_reminder_of_closed(c),),
          watermark="retention:reminders:sent"),
    _Side("reminders", Reminder, Reminder.cancelled_at, lambda c: (_reminder_of_closed(c),),
          watermark="retention:reminders:cancelled"),
)
WATERMARKS = tuple(s.watermark for s in SIDES if s.watermark)


def purge_candidates(session: Session, cutoff: datetime) -> dict[str, int]:
    """Rows past the cut-off, by table: what purges would delete (counted, nothing deleted).

    Counts the whole tables (a rehearsal is rare): a row found from two sides is counted once."""
    closed = select(Request.id).where(_closed(cutoff))
    wheres = {
        "webhook_deliveries": (WebhookDelivery, [WebhookDelivery.processed_at < cutoff]),
        "jobs": (Job, [Job.finished_at < cutoff]),
        "notices": (Notice, [Notice.request_id.in_(closed), _notice_done(cutoff)]),
        "reminders": (Reminder, [Reminder.milestone_id.in_(select(Milestone.id).where(
            Milestone.request_id.in_(closed))), _reminder_done(cutoff)]),
    }
    return {table: int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
            for table, (model, where) in wheres.items()}


def _upsert(session: Session, name: str, at: datetime) -> None:
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Heartbeat).values(name=name, at=at)
    session.execute(stmt.on_conflict_do_update(index_elements=[Heartbeat.name], set_={"at": stmt.excluded.at}))


class RetentionService:
    def __init__(self, *, db: Database, days: int, every: timedelta = EVERY):
        self.db = db
        self.days = days
        self.every = every

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)

    def _marks(self) -> dict[str, datetime]:
        with self.db.session() as s:
            rows = s.execute(select(Heartbeat.name, Heartbeat.at).where(
                Heartbeat.name.in_([LAST_PURGE, *WATERMARKS])))
            return {name: at for name, at in rows}

    def due(self, *, now: datetime) -> bool:
        """A purge is due when none finished in the last hour (or the last one is ahead of `now`: a moved clock)."""
        with self.db.session() as s:
            beat = s.get(Heartbeat, LAST_PURGE)
            last = beat.at if beat is not None else None
        return last is None or now - last >= self.every or last > now + SKEW

    def purge_if_due(self, *, now: datetime, **options: Any) -> PurgeReport:
        """The dispatch pass's purge: at most hourly; a purge cut short by max_batches goes on next pass."""
        if not self.due(now=now):
            return PurgeReport(ran=False)
        return self.purge(now=now, **options)

    def mark_done(self, *, now: datetime) -> None:
        """Record a complete purge at `now`: every watermark at its cut-off, the next purge an hour later."""
        with self.db.session() as s:
            for name in WATERMARKS:
                _upsert(s, name, self.cutoff(now))
            _upsert(s, LAST_PURGE, now)

    def purge(self, *, now: datetime, batch: int = 1000, max_batches: int = 20, pause: float = PAUSE) -> PurgeReport:
        cutoff = self.cutoff(now)
        report = PurgeReport()
        marks = self._marks()
        for side in SIDES:
            # Ahead of the cut-off (the retention got longer, a moved clock): the range is empty and the
            # watermark comes back to the cut-off; whatever lay between was deleted when it was written.
            since = marks.get(side.watermark) if side.watermark else None
            first = True
            while True:
                if report.batches >= max_batches:
                    report.more = True
                    return self._done(report)
                if not first and pause:
                    time.sleep(pause)  # let waiting writers in: SQLite's busy handler would lose every race
                first = False
                with self.db.session() as s:
                    picked = s.execute(side.pick(cutoff, since, batch)).all()
                    if picked:
                        s.execute(delete(side.model).where(side.model.id.in_({row[0] for row in picked})))
                    done = len(picked) < batch
                    # Every row of this side before the last one picked is gone: the next batch starts there.
                    since = cutoff if done else picked[-1][1]
                    if side.watermark:
                        _upsert(s, side.watermark, since)
                if picked:
                    report.batches += 1
                    ids = {row[0] for row in picked}
                    report.deleted[side.table] = report.deleted.get(side.table, 0) + len(ids)
                    metrics.PURGED_ROWS.labels(side.table).inc(len(ids))
                if done:
                    break
        with self.db.session() as s:
            _upsert(s, LAST_PURGE, now)
        return self._done(report)

    @staticmethod
    def _done(report: PurgeReport) -> PurgeReport:
        if report.total:  # said once per pass that removed something, never for an empty pass
            log.info("retention: purged %s", ", ".join(f"{n} {t}" for t, n in sorted(report.deleted.items())),
                     extra={"event": "retention_purge"})
        return report
