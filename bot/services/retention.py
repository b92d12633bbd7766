"""Bounded tables: dispatch purges old, finished rows in small batches (LEARNBOT_RETENTION_DAYS).

What goes: webhook deliveries handled before the cut-off, finished jobs, and the notices and
reminders of requests closed before it (sent, given up or cancelled). What stays: the requests
themselves, their milestones, and anything still owed to someone.

Each batch is its own short transaction deleting at most `batch` rows picked by an index, so a
purge never holds a long lock and a pass does at most `max_batches` of them (the rest next pass).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from bot import metrics
from bot.store.db import Database
from bot.store.models import Job, Milestone, Notice, Reminder, Request, RequestStatus, WebhookDelivery

log = logging.getLogger(__name__)

PAUSE = 0.02  # seconds between two batches of one pass


@dataclass
class PurgeReport:
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    more: bool = False  # stopped at max_batches with rows left: the next pass goes on

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _closed_before(cutoff: datetime) -> Any:
    return select(Request.id).where(Request.status == RequestStatus.CLOSED, Request.closed_at < cutoff)


def _candidates(cutoff: datetime, batch: int) -> list[tuple[str, Any, Any]]:
    """(table name, model, SELECT of ids to delete) in the order they are purged.

    Ordered by the indexed time, so each batch reads the index from its start: the rows already
    deleted are not scanned again, and a batch costs O(batch), not O(table).
    """
    closed = _closed_before(cutoff)
    return [
        ("webhook_deliveries", WebhookDelivery, select(WebhookDelivery.id).where(
            WebhookDelivery.processed_at.is_not(None), WebhookDelivery.processed_at < cutoff)
            .order_by(WebhookDelivery.processed_at).limit(batch)),
        ("jobs", Job, select(Job.id).where(Job.finished_at.is_not(None), Job.finished_at < cutoff)
         .order_by(Job.finished_at).limit(batch)),
        ("notices", Notice, select(Notice.id).where(
            Notice.request_id.in_(closed), or_(Notice.sent_at < cutoff, Notice.failed_at < cutoff)).limit(batch)),
        ("reminders", Reminder, select(Reminder.id).join(Milestone, Reminder.milestone_id == Milestone.id).where(
            Milestone.request_id.in_(closed),
            or_(Reminder.sent_at < cutoff, Reminder.cancelled_at < cutoff)).limit(batch)),
    ]


def purge_candidates(session: Session, cutoff: datetime) -> dict[str, int]:
    """Rows past the cut-off, by table: what purges would delete (counted, nothing deleted)."""
    counts = {}
    for table, _model, ids in _candidates(cutoff, batch=1):
        counts[table] = int(session.scalar(select(func.count()).select_from(
            ids.limit(None).order_by(None).subquery())) or 0)
    return counts


class RetentionService:
    def __init__(self, *, db: Database, days: int):
        self.db = db
        self.days = days

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)

    def purge(self, *, now: datetime, batch: int = 1000, max_batches: int = 20, pause: float = PAUSE) -> PurgeReport:
        cutoff = self.cutoff(now)
        report = PurgeReport()
        for table, model, ids in _candidates(cutoff, batch):
            while True:
                if report.batches >= max_batches:
                    report.more = True
                    return self._done(report)
                if report.batches and pause:
                    time.sleep(pause)  # let waiting writers in: SQLite's busy handler would lose every race
                with self.db.session() as s:
                    picked = list(s.scalars(ids))
                    if picked:
                        s.execute(delete(model).where(model.id.in_(picked)))
                report.batches += 1
                if picked:
                    report.deleted[table] = report.deleted.get(table, 0) + len(picked)
                    metrics.PURGED_ROWS.labels(table).inc(len(picked))
                if len(picked) < batch:
                    break
        return self._done(report)

    @staticmethod
    def _done(report: PurgeReport) -> PurgeReport:
        if report.total:  # said once per pass that removed something, never for an empty pass
            log.info("retention: purged %s", ", ".join(f"{n} {t}" for t, n in sorted(report.deleted.items())),
                     extra={"event": "retention_purge"})
        return report
