"""Where owed work is stored, and one way to claim, lease, hold and settle it.

Four tables hold work learnbot owes (jobs, notices, reminders, GitLab webhook deliveries). Each is a
`Queue`: which rows are pending, which of them are due, and what "done", "given up" and "due again
at" mean in that table. Everything else (claiming with a lease, skipping rows another worker holds,
handing leases back on a stop) is written once, here, and run by bot.services.runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from bot.store.models import Job, Notice, Reminder, WebhookDelivery

LEASE = timedelta(minutes=5)


def _lock(session: Session, query: Select[Any]) -> Select[Any]:
    # PostgreSQL: rows another worker holds are skipped, not waited for. SQLite: BEGIN IMMEDIATE
    # (store.db) already makes this transaction the only writer.
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


@dataclass(frozen=True)
class Queue:
    name: str
    model: Any
    # Not finished and not given up (the WHERE of the table's partial index).
    pending: Callable[[], Sequence[ColumnElement[bool]]]
    # Due by `now` (rows backed off or waiting are not).
    due: Callable[[datetime], Sequence[ColumnElement[bool]]]
    order: Callable[[], Sequence[Any]]
    mark_done: Callable[[Any, datetime], None]
    mark_failed: Callable[[Any, datetime, str], None]
    put_off: Callable[[Any, datetime], None]
    # What decides which handler runs a row: the jobs table's kind column; None: one kind per table.
    kind_column: Any = None
    kind_of: Callable[[Any], str] = field(default=lambda row: "")

    def claimable(self, now: datetime) -> Select[Any]:
        model = self.model
        return select(model).where(*self.pending(), *self.due(now),
                                   or_(model.claimed_until.is_(None), model.claimed_until < now))

    def claim(self, session: Session, *, now: datetime, limit: int, kinds: Sequence[str] = (),
              lease: timedelta = LEASE) -> list[Any]:
        """Due, unheld rows, oldest first, leased to the caller until now + lease (attempts counted)."""
        query = self.claimable(now)
        if self.kind_column is not None:
            query = query.where(self.kind_column.in_(list(kinds)))
        rows = list(session.scalars(_lock(session, query.order_by(*self.order()).limit(limit))))
        for row in rows:
            row.claimed_until = now + lease
            row.attempts += 1
        return rows

    def claim_one(self, session: Session, item_id: int, *, now: datetime, lease: timedelta = LEASE) -> Any | None:
        """This row, if it is due and nobody holds it: to run it straight away (after an answer)."""
        row = session.scalars(_lock(session, self.claimable(now).where(self.model.id == item_id))).first()
        if row is not None:
            row.claimed_until = now + lease
            row.attempts += 1
        return row

    def hold(self, session: Session, item_id: int) -> Any | None:
        """The row, locked until the caller's transaction ends (PostgreSQL; SQLite's writer is alone already).

        A worker settling a row and an answer waking it read the same row: without the lock the settle,
        written from a copy read before the wake committed, would undo the wake.
        """
        return session.get(self.model, item_id, with_for_update=True)

    def release(self, session: Session, ids: Sequence[int]) -> int:
        """Give claimed rows back: no lease, and the attempt that never ran not counted."""
        if not ids:
            return 0
        model = self.model
        result = session.execute(update(model).where(model.id.in_(list(ids)), model.claimed_until.is_not(None))
                                 .values(claimed_until=None, attempts=model.attempts - 1)
                                 .execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


def _finish_job(job: Job, now: datetime) -> None:
    job.finished_at, job.claimed_until, job.last_error = now, None, None


def _fail_job(job: Job, now: datetime, error: str) -> None:
    job.finished_at, job.claimed_until, job.last_error = now, None, error[:2000]


def due_again(row: Any, at: datetime) -> None:
    """Every queue's put_off: the row is due again at `at` and no longer held (each table has both columns)."""
    row.due_at, row.claimed_until = at, None


JOBS = Queue(
    name="jobs", model=Job,
    pending=lambda: (Job.finished_at.is_(None),),
    due=lambda now: (Job.due_at <= now,),
    order=lambda: (Job.due_at, Job.id),
    mark_done=_finish_job, mark_failed=_fail_job, put_off=due_again,
    kind_column=Job.kind, kind_of=lambda job: str(job.kind.value),
)


def _notice_sent(n: Notice, now: datetime) -> None:
    n.sent_at, n.claimed_until, n.last_error = now, None, None


def _notice_failed(n: Notice, now: datetime, error: str) -> None:
    n.failed_at, n.claimed_until, n.last_error = now, None, error[:2000]


NOTICES = Queue(
    name="notices", model=Notice,
    pending=lambda: (Notice.sent_at.is_(None), Notice.failed_at.is_(None)),
    due=lambda now: (Notice.due_at <= now,),
    order=lambda: (Notice.due_at, Notice.id),
    mark_done=_notice_sent, mark_failed=_notice_failed, put_off=due_again,
    kind_of=lambda row: "notice",
)


def _reminder_sent(r: Reminder, now: datetime) -> None:
    r.sent_at, r.claimed_until, r.last_error = now, None, None


def _reminder_failed(r: Reminder, now: datetime, error: str) -> None:
    r.cancelled_at, r.claimed_until, r.last_error = now, None, error[:2000]


REMINDERS = Queue(
    name="reminders", model=Reminder,
    pending=lambda: (Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None)),
    due=lambda now: (Reminder.due_at <= now,),
    order=lambda: (Reminder.due_at, Reminder.id),
    mark_done=_reminder_sent, mark_failed=_reminder_failed, put_off=due_again,
    kind_of=lambda row: "reminder",
)


def _delivery_done(d: WebhookDelivery, now: datetime) -> None:
    d.processed_at = now
    d.claimed_until, d.last_error = None, None


def _delivery_failed(d: WebhookDelivery, now: datetime, error: str) -> None:
    d.processed_at, d.claimed_until, d.last_error = now, None, error[:2000]
    d.outcome = f"failed: {error}"[:200]


def _delivery_later(d: WebhookDelivery, at: datetime) -> None:
    d.claimed_until = at  # a delivery has no due time of its own: the lease is its backoff


WEBHOOK_DELIVERIES = Queue(
    name="webhook_deliveries", model=WebhookDelivery,
    pending=lambda: (WebhookDelivery.processed_at.is_(None),),
    due=lambda now: (),
    order=lambda: (WebhookDelivery.received_at, WebhookDelivery.id),
    mark_done=_delivery_done, mark_failed=_delivery_failed, put_off=_delivery_later,
    kind_of=lambda row: "gitlab_event",
)
