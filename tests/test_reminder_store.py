"""The queues in the database: what is due, leases, wakes while a worker holds a job, and an index that serves
the due query."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from bot.services.runner import Done, Kind, Runner
from bot.store import jobs
from bot.store.models import Job, JobKind, Milestone, Reminder, Request, RequestStatus
from bot.store.queues import JOBS, REMINDERS
from tests.conftest import is_postgres

NOW = datetime(2027, 2, 15, 14, 0, tzinfo=UTC)


def _request(db, reminders: list[dict]) -> list[int]:
    with db.session() as s:
        request = Request(support_model="content-review", requester_id="U0REQ", title="T", answers={},
                          status=RequestStatus.OPEN, created_at=NOW, updated_at=NOW)
        for i, fields in enumerate(reminders):
            m = Milestone(key=f"k{i}", title="Step", position=i, due_on=date(2027, 2, 15))
            m.reminders.append(Reminder(recipient_id="U0REQ", zone_checked=True, **fields))
            request.milestones.append(m)
        s.add(request)
        s.flush()
        return [r.id for m in request.milestones for r in m.reminders]


def test_only_pending_due_unclaimed_reminders_are_claimed_oldest_first(db):
    due_late, due_early, future, _sent, _cancelled = _request(db, [
        {"due_at": NOW - timedelta(minutes=1)},
        {"due_at": NOW - timedelta(days=1)},
        {"due_at": NOW + timedelta(minutes=1)},
        {"due_at": NOW - timedelta(hours=1), "sent_at": NOW},
        {"due_at": NOW - timedelta(hours=1), "cancelled_at": NOW},
    ])
    def claim(now):
        with db.session() as s:
            return [r.id for r in REMINDERS.claim(s, now=now, limit=100)]

    assert claim(NOW) == [due_early, due_late]
    assert claim(NOW + timedelta(minutes=4)) == [future]  # leased: a second worker gets only what fell due since
    assert claim(NOW + timedelta(minutes=6)) == [due_early, due_late]  # the first lease (5 minutes) ran out
    with db.session() as s:
        assert s.get(Reminder, due_early).attempts == 2


def test_due_query_is_served_by_the_partial_index(db, database_url):
    _request(db, [{"due_at": NOW - timedelta(minutes=m)} for m in range(50)])
    query = REMINDERS.claimable(NOW).order_by(*REMINDERS.order()).limit(100)
    with db.engine.connect() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        if is_postgres(database_url):
            # Tiny tables make a sequential scan cheapest; forbid it to see whether the index can serve.
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {compiled}")))
        else:
            plan = "\n".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "ix_reminders_pending_due" in plan, plan
    assert "TEMP B-TREE" not in plan.upper()  # ordered by the index, no sort of all rows


def _job(db, kind: JobKind) -> tuple[int, int]:
    _request(db, [])
    with db.session() as s:
        request_id = s.scalars(text("SELECT id FROM requests ORDER BY id DESC LIMIT 1")).one()
        jobs.enqueue(s, kind=kind, request_id=request_id, due_at=NOW)
        job_id = jobs.job_id(s, kind=kind, request_id=request_id)
        assert job_id is not None
        return job_id, request_id


def test_waking_a_job_that_a_worker_holds_makes_it_run_again(db):
    """Done pressed while the worker writes the old checklist: the write runs again, with the new state."""
    job_id, request_id = _job(db, JobKind.SYNC_CHECKLIST)
    runs: list[int] = []

    def write(claim, now):
        runs.append(claim.attempt)
        if len(runs) == 1:  # an answer wakes the job while this run is under way
            with db.session() as s:
                jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request_id, due_at=NOW)
        return Done("written")

    runner = Runner(db=db, handlers=[Kind(JobKind.SYNC_CHECKLIST.value, JOBS, write)], stop=threading.Event())
    assert [r.status.value for r in runner.run_pass(now=NOW)] == ["skipped"]  # not marked finished: woken
    assert [r.status.value for r in runner.run_pass(now=NOW)] == ["done"] and len(runs) == 2  # runs again
    with db.session() as s:
        assert s.get(Job, job_id).finished_at is not None
    assert runner.run_pass(now=NOW + timedelta(hours=1)) == []  # finished: nothing runs a third time
    with db.session() as s:
        jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request_id, due_at=NOW)
    assert len(runner.run_pass(now=NOW + timedelta(hours=1))) == 1  # a finished job woken runs once more


def test_a_wake_while_a_worker_finishes_the_same_job_is_kept(db, database_url):
    """The worker ran the job, then an answer woke it (attempts reset) before the worker's finish landed:
    the job must run again, not end finished with the wake lost (seen as a decision's note never posted)."""
    import pytest

    if not is_postgres(database_url):
        pytest.skip("SQLite has one writer at a time (BEGIN IMMEDIATE): the two cannot interleave")
    job_id, request_id = _job(db, JobKind.DECISION_GITLAB)
    waking, finished = threading.Event(), threading.Event()

    def wake() -> None:  # an answer's transaction: wakes the job, commits after the worker has read it
        with db.session() as s:
            jobs.enqueue_or_wake(s, kind=JobKind.DECISION_GITLAB, request_id=request_id, due_at=NOW)
            s.flush()
            waking.set()
            finished.wait(timeout=0.5)  # the worker's settle happens now (it blocks here when it locks)

    thread = threading.Thread(target=wake)
    runs: list[int] = []

    def write(claim, now):
        runs.append(claim.attempt)
        if len(runs) == 1:
            thread.start()
            waking.wait(timeout=10)
        return Done("written")

    runner = Runner(db=db, handlers=[Kind(JobKind.DECISION_GITLAB.value, JOBS, write)], stop=threading.Event())
    results = runner.run_pass(now=NOW)
    finished.set()
    thread.join(timeout=10)
    assert [r.status.value for r in results] == ["skipped"]  # the wake was kept: not marked finished
    assert [r.status.value for r in runner.run_pass(now=NOW)] == ["done"] and len(runs) == 2
    with db.session() as s:
        assert s.get(Job, job_id).finished_at is not None
