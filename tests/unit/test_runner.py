"""The one runner of owed work: backoff, waiting as told, giving up, isolation, the time budget, stopping
and fan-out, with handlers that do nothing but say how their item went."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.services.runner import Done, GiveUp, Kind, Retry, Runner, Status, Wait, backoff
from bot.store import jobs
from bot.store.models import Job, JobKind, Notice, Request, RequestStatus
from bot.store.notices import enqueue
from bot.store.queues import JOBS, NOTICES

NOW = datetime(2027, 2, 15, 14, 0, tzinfo=UTC)


def _requests(db, n: int) -> list[int]:
    with db.session() as s:
        rows = [Request(support_model="content-review", requester_id="U0REQ", title=f"T{i}", answers={},
                        status=RequestStatus.OPEN, created_at=NOW, updated_at=NOW) for i in range(n)]
        s.add_all(rows)
        s.flush()
        for r in rows:
            jobs.enqueue(s, kind=JobKind.SYNC_CHECKLIST, request_id=r.id, due_at=NOW)
        return [r.id for r in rows]


def _notices(db, n: int) -> list[int]:
    with db.session() as s:
        return [enqueue(s, key=f"k{i}", recipient=f"U{i:04d}", text="hi", due_at=NOW).id for i in range(n)]


def _runner(db, *handlers, **kw) -> Runner:
    return Runner(db=db, handlers=list(handlers), stop=kw.pop("stop", threading.Event()), **kw)


def test_backoff_doubles_from_a_minute_to_an_hour_and_never_undercuts_retry_after():
    assert [backoff(a).total_seconds() for a in (1, 2, 3, 7, 8, 30)] == [60, 120, 240, 3600, 3600, 3600]
    assert backoff(1, retry_after=600).total_seconds() == 600
    assert backoff(8, retry_after=30).total_seconds() == 3600


def test_a_retry_backs_off_and_gives_up_after_max_attempts(db):
    [request_id] = _requests(db, 1)
    runner = _runner(db, Kind("sync_checklist", JOBS, lambda c, now: Retry("GitLab 503"), max_attempts=3))
    at = NOW
    for attempt in (1, 2, 3):
        [result] = runner.run_pass(now=at)
        with db.session() as s:
            job = s.scalars(select(Job).where(Job.request_id == request_id)).one()
            if attempt < 3:
                assert result.status is Status.RETRY and job.due_at == at + backoff(attempt)
                assert job.finished_at is None and job.last_error == "GitLab 503"
            else:  # the third try was the last one: given up, and said why
                assert result.status is Status.FAILED and job.finished_at is not None
                assert job.last_error == "gave up after 3 tries: GitLab 503"
        assert runner.run_pass(now=at) == []  # backing off: nothing more this pass
        at = job.due_at
    assert runner.run_pass(now=at + timedelta(days=1)) == []


def test_waiting_as_slack_says_is_no_failure_it_never_gives_up(db):
    """A 429 makes the item wait for Retry-After: not counted, never given up, however many there are."""
    _notices(db, 1)
    wait = Kind("notice", NOTICES, lambda c, now: Wait(now + timedelta(seconds=30), "Slack asked to wait (429)"),
                max_attempts=3)
    at = NOW
    for _ in range(30):
        [result] = _runner(db, wait).run_pass(now=at)
        assert result.status is Status.WAITING
        assert _runner(db, wait).run_pass(now=at + timedelta(seconds=29)) == []  # not before Retry-After
        at += timedelta(seconds=30)
    with db.session() as s:
        notice = s.scalars(select(Notice)).one()
        assert notice.failed_at is None and notice.attempts == 0 and notice.due_at == at


def test_one_item_blowing_up_is_retried_and_the_others_are_done(db):
    ids = _requests(db, 3)
    bad = ids[1]

    def write(claim, now):
        if claim.request_id == bad:
            raise KeyError("unexpected shape")
        return Done("written")

    results = _runner(db, Kind("sync_checklist", JOBS, write)).run_pass(now=NOW)
    assert {r.request_id: r.status for r in results} == {ids[0]: Status.DONE, bad: Status.RETRY, ids[2]: Status.DONE}
    assert "KeyError" in next(r.detail for r in results if r.request_id == bad)


def test_a_give_up_records_where_people_look_in_the_same_transaction(db):
    [request_id] = _requests(db, 1)

    def refuse(claim, now):
        def record(s, job):
            s.get(Request, claim.request_id).filing_error = "GitLab refused it: 422"

        return GiveUp("422", record=record)

    [result] = _runner(db, Kind("sync_checklist", JOBS, refuse)).run_pass(now=NOW)
    assert result.status is Status.FAILED
    with db.session() as s:
        assert s.get(Request, request_id).filing_error == "GitLab refused it: 422"
        assert s.scalars(select(Job)).one().finished_at is not None


def test_the_time_budget_leaves_the_rest_for_the_next_pass(db):
    _notices(db, 25)
    clock = [0.0]

    def send(claim, now):
        clock[0] += 1.0  # every send takes a second of the budget
        return Done("sent")

    runner = _runner(db, Kind("notice", NOTICES, send), batch=10, budget=timedelta(seconds=15),
                     monotonic=lambda: clock[0])
    first = runner.run_pass(now=NOW)
    assert len(first) == 20  # two batches fit in 15 s; the third is not claimed
    with db.session() as s:
        assert len(list(s.scalars(select(Notice).where(Notice.sent_at.is_(None), Notice.claimed_until.is_(None))))) == 5
    assert len(runner.run_pass(now=NOW)) == 5


def test_a_stop_finishes_the_item_in_hand_and_hands_the_rest_back_at_once(db):
    _notices(db, 5)
    stop = threading.Event()

    def send(claim, now):
        stop.set()  # SIGTERM lands while the first one is being sent
        return Done("sent")

    results = _runner(db, Kind("notice", NOTICES, send), stop=stop).run_pass(now=NOW)
    assert [r.status for r in results] == [Status.DONE]
    with db.session() as s:
        waiting = list(s.scalars(select(Notice).where(Notice.sent_at.is_(None))))
        assert len(waiting) == 4 and all(n.claimed_until is None and n.attempts == 0 for n in waiting)


@pytest.mark.parametrize("pool", [1, 8])
def test_fan_out_kinds_have_as_many_items_in_flight_as_the_pool(db, pool):
    """Held until `pool` sends are in flight at once (or a patient limit passes): no race with the clock."""
    _notices(db, 16)
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def send(claim, now):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        deadline = time.monotonic() + 10
        while most[0] < pool and time.monotonic() < deadline:
            time.sleep(0.005)
        with lock:
            in_flight[0] -= 1
        return Done("sent")

    results = _runner(db, Kind("notice", NOTICES, send, fan_out=True), pool=pool).run_pass(now=NOW)
    assert len(results) == 16 and all(r.status is Status.DONE for r in results)
    assert most[0] == pool


def test_a_kind_the_outside_world_holds_off_is_not_claimed_this_pass(db):
    """Slack's pace spent for the next minute: the pass leaves the messages due instead of claiming them."""
    _notices(db, 3)
    runner = _runner(db, Kind("notice", NOTICES, lambda c, now: Done("sent"), hold_off=lambda: 45.0))
    assert runner.run_pass(now=NOW) == []
    with db.session() as s:
        assert all(n.attempts == 0 and n.claimed_until is None for n in s.scalars(select(Notice)))
    assert len(_runner(db, Kind("notice", NOTICES, lambda c, now: Done("sent"), hold_off=lambda: 0.0))
               .run_pass(now=NOW)) == 3
