"""Several `learnbot dispatch` processes at once over the same due reminders: each is delivered once.

Real processes against the real database (PostgreSQL in CI: FOR UPDATE SKIP LOCKED; SQLite:
its single writer), counting the Slack stand-in's chat.postMessage calls per reminder.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.container import Services
from bot.store.models import Milestone, Reminder, Request, RequestStatus
from tests.conftest import is_postgres
from tests.e2e.harness import child_env

pytestmark = pytest.mark.e2e
NOW = datetime(2027, 2, 15, 14, 0, tzinfo=UTC)
USERS = [f"U0P{i:04d}" for i in range(20)]
DISPATCH_AT = Path(__file__).with_name("dispatch_at.py")


def seed_due_reminders(db, count: int, *, per_request: int = 10) -> None:
    """`count` reminders, all due before NOW, spread over 20 people's DMs."""
    with db.session() as s:
        for r in range(count // per_request):
            request = Request(support_model="content-review", requester_id=USERS[r % len(USERS)],
                              title=f"Review {r}", answers={}, status=RequestStatus.OPEN, gitlab_iid=r + 1,
                              gitlab_url=f"https://gitlab.example/issues/{r + 1}", created_at=NOW, updated_at=NOW)
            for m in range(per_request):
                milestone = Milestone(key=f"step-{m}", title=f"Step {m}", position=m, due_on=date(2027, 2, 15))
                milestone.reminders.append(Reminder(recipient_id=request.requester_id, zone_checked=True,
                                                    due_at=NOW - timedelta(minutes=m)))
                request.milestones.append(milestone)
            s.add(request)


def start_dispatch(env: dict[str, str], now: datetime) -> subprocess.Popen[str]:
    # The reminders are written for NOW, which may be ahead of the real clock (a --now there only rehearses).
    return subprocess.Popen([sys.executable, str(DISPATCH_AT), now.isoformat()], env=child_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def deliveries(slack) -> Counter[int]:
    """How many times Slack stored a DM for each reminder id (a 2xx chat.postMessage with its metadata)."""
    counted: Counter[int] = Counter()
    for call in slack.accepted("chat.postMessage"):
        meta = call.body.get("metadata") or {}
        if meta.get("event_type") == "learnbot_reminder":
            counted[meta["event_payload"]["reminder_id"]] += 1
    return counted


def pending(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Reminder).where(Reminder.sent_at.is_(None))) or 0


@pytest.fixture
def workers_slack(slack, env):
    # Each process keeps Slack's pace for itself only: four at once would go past Slack's limits (20
    # reminders to each of 20 DMs, a history look-up per retried one). What is tested here is exactly-once,
    # so Slack allows 10 times its tiers, and the processes keep to that (STANDIN_PACE_SCALE, dispatch_at.py).
    slack.rate_scale = 10
    env["STANDIN_PACE_SCALE"] = "10"
    for user in USERS:
        slack.add_user(user, tz="America/New_York")
    return slack


def test_four_dispatchers_deliver_each_due_reminder_exactly_once(env, db, workers_slack, database_url):
    count = 2000 if is_postgres(database_url) else 400
    seed_due_reminders(db, count)
    started = time.monotonic()
    procs = [start_dispatch(env, NOW) for _ in range(4)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]  # stdout: the pass report
    elapsed = time.monotonic() - started
    assert all(p.returncode == 0 for p in procs), outputs

    counted = deliveries(workers_slack)
    assert len(counted) == count, f"{count - len(counted)} reminders never delivered"
    assert set(counted.values()) == {1}, f"delivered twice: {[k for k, v in counted.items() if v > 1][:10]}"
    assert pending(db) == 0
    share = [sum(int(n) for n in re.findall(r"(\d+) sent", out)) for out in outputs]
    print(f"\n{count} reminders, 4 processes: {elapsed:.1f}s, per process sent {share}")
    # Every process took part (claims are batches of 100, so none can starve the others entirely).
    assert sum(share) == count


def test_a_dispatcher_killed_mid_pass_loses_nothing(env, db, workers_slack, database_url):
    count = 600 if is_postgres(database_url) else 300
    seed_due_reminders(db, count)
    # A slow Slack that posts at once but answers late: the kill lands after Slack stored a DM
    # and before the dead process could record it as sent.
    workers_slack.fail_next("chat.postMessage", after_effect=True, delay=0.2, times=count)
    victim = start_dispatch(env, NOW)
    deadline = time.monotonic() + 60

    def in_flight() -> bool:
        return any(not c.done for c in workers_slack.calls_to("chat.postMessage"))

    while not (len(deliveries(workers_slack)) >= 10 and in_flight()) and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    workers_slack.wait_for(lambda c: c.api_method == "chat.postMessage", count=len(
        workers_slack.calls_to("chat.postMessage")))  # the last post, stored by Slack, is answered to nobody
    workers_slack.clear_faults()
    delivered_before = len(deliveries(workers_slack))
    assert 0 < delivered_before < count
    with db.session() as s:
        unrecorded = s.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.sent_at.is_(None), Reminder.id.in_(list(deliveries(workers_slack))))) or 0
    assert unrecorded >= 1  # Slack has it, the database does not know yet

    # Within the lease nobody touches what the dead process claimed; after it, the others finish.
    procs = [start_dispatch(env, NOW + timedelta(minutes=6)) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    outputs = [out for out, _ in results]
    assert all(p.returncode == 0 for p in procs), [err[err.find("Traceback"):][:4000] for _, err in results]
    counted = deliveries(workers_slack)
    assert len(counted) == count, f"{count - len(counted)} reminders never delivered"
    assert set(counted.values()) == {1}, f"delivered twice: {[k for k, v in counted.items() if v > 1][:10]}"
    assert pending(db) == 0
    found = sum(int(n) for out in outputs for n in re.findall(r"(\d+) already sent", out))
    assert found == unrecorded  # found in the DM's history instead of being sent again
    print(f"\nkilled after {delivered_before} of {count} ({unrecorded} sent but unrecorded); "
          f"3 others finished the rest, each delivered once")


def test_worker_process_delivers_on_its_first_tick_and_a_restart_sends_nothing_again(env, db, workers_slack):
    now = Services.clock()  # the worker process reads the same clock (moved alike under libfaketime)
    with db.session() as s:
        request = Request(support_model="content-review", requester_id=USERS[0], title="Due now", answers={},
                          status=RequestStatus.OPEN, gitlab_iid=1, gitlab_url="https://gitlab.example/issues/1",
                          created_at=now, updated_at=now)
        milestone = Milestone(key="needed-by", title="Review needed by", position=0,
                              due_on=now.date() - timedelta(days=1))  # 09:00 yesterday in New York: due
        milestone.reminders.append(Reminder(recipient_id=USERS[0], zone_checked=True,
                                            due_at=now - timedelta(minutes=1)))
        request.milestones.append(milestone)
        s.add(request)
    full = child_env(env)
    for _ in range(2):  # the second worker starts where the first stopped: nothing kept in memory
        worker = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=full, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda w=worker, out=lines: out.extend(w.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            while not any("reminders:" in ln or "nothing due" in ln for ln in lines):
                assert time.monotonic() < deadline, "".join(lines)
                time.sleep(0.05)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            reader.join(timeout=5)
        assert worker.returncode == 0 and "worker stopped" in "".join(lines), "".join(lines)
    assert list(deliveries(workers_slack).values()) == [1]
    assert pending(db) == 0


def test_one_dispatch_sends_due_reminders_many_at_a_time_not_one_by_one(services: Services, workers_slack) -> None:
    """Slack held still: the pass has a pool's worth of DMs in flight at once, and each lands once."""
    seed_due_reminders(services.db, 40)
    done: list[object] = []
    slack = workers_slack
    with slack.hold("chat.postMessage") as sends:
        passing = threading.Thread(target=lambda: done.append(services.dispatcher.run_once(now=NOW)))
        passing.start()
        deadline = time.monotonic() + 30
        while sends.waiting < 8 and time.monotonic() < deadline:  # patience on a busy machine, not a measure
            time.sleep(0.01)
        in_flight = sends.waiting
    passing.join(timeout=60)
    assert in_flight >= 8, f"only {in_flight} DM(s) in flight at once"
    assert done and sorted(deliveries(slack).values()) == [1] * 40
