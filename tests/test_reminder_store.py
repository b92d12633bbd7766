"""The reminder queue in the database: what is due, leases, and an index that serves the due query."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from bot.store import jobs
from bot.store import reminders as queries
from bot.store.models import Job, JobKind, Milestone, Reminder, Request, RequestStatus
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
    with db.session() as s:
        assert queries.claim_due(s, now=NOW) == [due_early, due_late]
    with db.session() as s:  # leased: a second worker gets only what fell due since
        assert queries.claim_due(s, now=NOW + timedelta(minutes=4)) == [future]
    with db.session() as s:  # the first lease (5 minutes) has run out; the second has not
        assert queries.claim_due(s, now=NOW + timedelta(minutes=6)) == [due_early, due_late]
        assert s.get(Reminder, due_early).attempts == 2


def test_due_query_is_served_by_the_partial_index(db, database_url):
    _request(db, [{"due_at": NOW - timedelta(minutes=m)} for m in range(50)])
    query = queries.due_query(NOW, 100)
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


def test_waking_a_job_that_a_worker_holds_makes_it_run_again(db):
    [rid] = _request(db, [{"due_at": NOW}])
    with db.session() as s:
        request_id = s.get(Reminder, rid).milestone.request_id
        jobs.enqueue(s, kind=JobKind.SYNC_CHECKLIST, request_id=request_id, due_at=NOW)
    with db.session() as s:
        [job] = jobs.claim_due(s, now=NOW, kinds=[JobKind.SYNC_CHECKLIST])
        attempt = job.attempts
    with db.session() as s:  # Done pressed while the worker is writing the old checklist
        jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request_id, due_at=NOW)
    with db.session() as s:
        job = s.get(Job, job.id)
        assert jobs.finish_claimed(job, attempt=attempt, now=NOW) is False
    with db.session() as s:
        [again] = jobs.claim_due(s, now=NOW, kinds=[JobKind.SYNC_CHECKLIST])
        assert jobs.finish_claimed(again, attempt=again.attempts, now=NOW)
    with db.session() as s:
        assert jobs.claim_due(s, now=NOW + timedelta(hours=1), kinds=[JobKind.SYNC_CHECKLIST]) == []
        jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request_id, due_at=NOW)
    with db.session() as s:
        assert len(jobs.claim_due(s, now=NOW, kinds=[JobKind.SYNC_CHECKLIST])) == 1


def test_a_wake_while_a_worker_finishes_the_same_job_is_kept(db, database_url):
    """The worker read the job, then an answer woke it (attempts reset) before the worker's finish landed:
    the job must run again, not end finished with the wake lost (seen as a decision's note never posted)."""
    import threading

    import pytest

    if not is_postgres(database_url):
        pytest.skip("SQLite has one writer at a time (BEGIN IMMEDIATE): the two cannot interleave")
    _request(db, [])
    with db.session() as s:
        request_id = s.scalars(text("SELECT id FROM requests ORDER BY id DESC LIMIT 1")).one()
        job = jobs.enqueue(s, kind=JobKind.DECISION_GITLAB, request_id=request_id, due_at=NOW)
        s.flush()
        job_id = job.id
    with db.session() as s:
        [claimed] = jobs.claim_due(s, now=NOW, kinds=[JobKind.DECISION_GITLAB])
        attempt = claimed.attempts
    waking, finished = threading.Event(), threading.Event()

    def wake() -> None:  # an answer's transaction: wakes the job, commits after the worker has read it
        with db.session() as s:
            jobs.enqueue_or_wake(s, kind=JobKind.DECISION_GITLAB, request_id=request_id, due_at=NOW)
            s.flush()
            waking.set()
            finished.wait(timeout=0.5)  # the worker's read happens now (it blocks here when it locks)

    thread = threading.Thread(target=wake)
    thread.start()
    waking.wait(timeout=10)
    with db.session() as s:
        job = jobs.held(s, job_id)
        assert job is not None
        ran_out = jobs.finish_claimed(job, attempt=attempt, now=NOW)
    finished.set()
    thread.join(timeout=10)
    with db.session() as s:
        job = s.get(Job, job_id)
        assert not ran_out and job.finished_at is None and job.attempts == 0  # due again: the wake is kept
