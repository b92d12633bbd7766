"""Owing background jobs: one row per (kind, request), woken rather than duplicated.

Claiming, leasing and settling them is bot/store/queues.py's JOBS, run by bot/services/runner.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.db import insert_rows
from bot.store.models import Job, JobKind


def job_id(session: Session, *, kind: JobKind, request_id: int) -> int | None:
    """The id of this request's job of this kind (one row per pair), if it has one."""
    return session.scalars(select(Job.id).where(Job.kind == kind, Job.request_id == request_id)).first()


def enqueue(session: Session, *, kind: JobKind, request_id: int, due_at: datetime) -> None:
    """A new job row, written now (one INSERT, no object: a submission's answer waits for this)."""
    session.execute(insert_rows(Job).values(kind=kind, request_id=request_id, due_at=due_at))


def enqueue_or_wake(session: Session, *, kind: JobKind, request_id: int, due_at: datetime) -> None:
    """Make sure this request's job of this kind runs at `due_at` (or sooner), once.

    There is one row per (kind, request): a finished job is made due again, a waiting one is
    brought forward, and one a worker holds right now keeps its lease (it runs again after).
    """
    job = session.scalars(select(Job).where(Job.kind == kind, Job.request_id == request_id)
                          .with_for_update()).first()  # see queues.Queue.hold: a settle must not undo this wake
    if job is None:
        enqueue(session, kind=kind, request_id=request_id, due_at=due_at)
        return
    waiting = job.finished_at is None
    job.finished_at = None
    job.due_at = min(job.due_at, due_at) if waiting else due_at
    # A worker that holds it now sees attempts changed and does not mark it finished (runner: woken).
    job.attempts = 0
    job.last_error = None
