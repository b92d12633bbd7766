"""Claiming background jobs so that any number of workers can run: each due job goes to one of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from bot.store.models import Job, JobKind

LEASE = timedelta(minutes=5)


def _claimable(now: datetime) -> Select[Job]:
    return select(Job).where(
        Job.finished_at.is_(None),
        Job.due_at <= now,
        or_(Job.claimed_until.is_(None), Job.claimed_until < now),
    )


def due_query(now: datetime) -> Select[Job]:
    """The jobs a pass at `now` would claim, in the order it claims them (read only: no lock, no lease)."""
    return _claimable(now).order_by(Job.due_at, Job.id)


def _lock(session: Session, query: Select[Job]) -> Select[Job]:
    # PostgreSQL: rows another worker holds are skipped, not waited for. SQLite: BEGIN IMMEDIATE
    # (store.db) already makes this transaction the only writer.
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def claim_due(
    session: Session, *, now: datetime, kinds: Sequence[JobKind], limit: int = 100, lease: timedelta = LEASE
) -> list[Job]:
    """Due, unclaimed jobs of these kinds, oldest first, leased to the caller until now + lease."""
    query = _claimable(now).where(Job.kind.in_(list(kinds))).order_by(Job.due_at, Job.id).limit(limit)
    jobs = list(session.scalars(_lock(session, query)))
    for job in jobs:
        job.claimed_until = now + lease
        job.attempts += 1
    return jobs


def claim_for_request(
    session: Session, *, kind: JobKind, request_id: int, now: datetime, lease: timedelta = LEASE
) -> Job | None:
    """The job of this request, if nobody holds it and it is due: used to run it straight away."""
    query = _claimable(now).where(Job.kind == kind, Job.request_id == request_id)
    job = session.scalars(_lock(session, query)).first()
    if job is not None:
        job.claimed_until = now + lease
        job.attempts += 1
    return job


def held(session: Session, job_id: int) -> Job | None:
    """The job, locked until the caller's transaction ends (PostgreSQL; SQLite's writer is alone already).

    A worker finishing a job and an answer waking it read the same row: without the lock the finish,
    written from a copy read before the wake committed, would mark the woken job finished.
    """
    return session.get(Job, job_id, with_for_update=True)


def finish(job: Job, *, now: datetime) -> None:
    job.finished_at = now
    job.claimed_until = None
    job.last_error = None


def retry_later(job: Job, *, now: datetime, error: str, retry_after: float | None = None) -> datetime:
    """Back off exponentially (1 min doubling to 1 h), never sooner than a server's Retry-After."""
    delay = min(60 * 2 ** max(job.attempts - 1, 0), 3600)
    if retry_after:
        delay = max(delay, retry_after)
    job.due_at = now + timedelta(seconds=delay)
    job.claimed_until = None
    job.last_error = error[:2000]
    return job.due_at


def enqueue(session: Session, *, kind: JobKind, request_id: int, due_at: datetime) -> Job:
    job = Job(kind=kind, request_id=request_id, due_at=due_at)
    session.add(job)
    return job


def enqueue_or_wake(session: Session, *, kind: JobKind, request_id: int, due_at: datetime) -> Job:
    """Make sure this request's job of this kind runs at `due_at` (or sooner), once.

    There is one row per (kind, request): a finished job is made due again, a waiting one is
    brought forward, and one a worker holds right now keeps its lease (it runs again after).
    """
    job = session.scalars(select(Job).where(Job.kind == kind, Job.request_id == request_id)
                          .with_for_update()).first()  # see held(): a finish must not undo this wake
    if job is None:
        return enqueue(session, kind=kind, request_id=request_id, due_at=due_at)
    waiting = job.finished_at is None
    job.finished_at = None
    job.due_at = min(job.due_at, due_at) if waiting else due_at
    # A worker that holds it now sees attempts changed and does not mark it finished (finish_claimed).
    job.attempts = 0
    job.last_error = None
    return job


def finish_claimed(job: Job, *, attempt: int, now: datetime) -> bool:
    """Finish a job this worker claimed at `attempt`, unless it was woken meanwhile (then it runs again)."""
    if job.attempts != attempt:
        job.claimed_until = None
        return False
    finish(job, now=now)
    return True
