"""A rehearsal is a rehearsal (issue 15, 6; SPEC §15): `dispatch --now <later>` and `digest --now <later>`
say what would happen and send, purge and record nothing; the worker's heartbeat is the real time."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import func, select

from bot.observability import record_heartbeat
from bot.store.models import Digest, Heartbeat, Job, JobKind, Notice, Reminder, RequestStatus
from tests.e2e.harness import child_env
from tests.ops.helpers import add_job, add_notice, add_reminder, add_request


def run(args, env):
    return subprocess.run([sys.executable, "-m", "bot", *args], env=child_env(env), capture_output=True, text=True,
                          timeout=60, cwd=os.path.dirname(__file__))


def _owed_next_month(services):
    """Work due three weeks from now, and old rows retention would purge by then (not today)."""
    now = services.clock()
    later = now + timedelta(weeks=3)
    with services.db.session() as s:
        request = add_request(s, created=now - timedelta(days=200), milestone_due=later.date())
        add_job(s, request, due=later - timedelta(hours=1), kind=JobKind.SYNC_CHECKLIST)
        add_reminder(s, request, due=later - timedelta(hours=1))
        add_notice(s, request, key="future-notice", due=later - timedelta(hours=1))
        # Closed 170 days ago: past the 180-day cut-off three weeks from now, not today.
        closed = add_request(s, status=RequestStatus.CLOSED, created=now - timedelta(days=200),
                             closed=now - timedelta(days=170), milestone_due=(now - timedelta(days=175)).date())
        add_notice(s, closed, key="old-notice", due=now - timedelta(days=172), sent=now - timedelta(days=172))
        add_reminder(s, closed, due=now - timedelta(days=172), sent=now - timedelta(days=172))
    return later


def _state(services):
    with services.db.session() as s:
        return {
            "jobs": [(j.finished_at, j.claimed_until, j.attempts) for j in s.scalars(select(Job))],
            "reminders": [(r.sent_at, r.claimed_until, r.attempts) for r in s.scalars(select(Reminder).order_by(
                Reminder.id))],
            "notices": [(n.sent_at, n.claimed_until, n.attempts) for n in s.scalars(select(Notice).order_by(
                Notice.id))],
            "heartbeat": s.get(Heartbeat, "dispatch"),
            "digests": s.scalar(select(func.count()).select_from(Digest)),
        }


def test_dispatch_with_a_future_now_prints_what_would_happen_and_changes_nothing(env, services, slack, gitlab):
    later = _owed_next_month(services)
    before = _state(services)
    out = run(["dispatch", "--now", later.isoformat()], env)
    assert out.returncode == 0, out.stderr
    assert "rehearsal" in out.stdout and "nothing is sent, written or purged" in out.stdout
    assert "would run sync_checklist" in out.stdout
    assert "would remind U0REQ" in out.stdout and "would send 1 message to U0REQ" in out.stdout
    assert "would purge 1 notices, 1 reminders" in out.stdout
    assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("chat.scheduleMessage") == []
    assert [c for c in gitlab.calls if c.method != "GET"] == []
    after = _state(services)
    assert after == before  # nothing claimed, sent, purged; no heartbeat in the future
    assert after["heartbeat"] is None


def test_dry_run_rehearses_at_the_real_time_too(env, services, slack):
    now = services.clock()
    with services.db.session() as s:
        request = add_request(s, created=now - timedelta(days=1), milestone_due=now.date())
        add_reminder(s, request, due=now - timedelta(minutes=5))
    before = _state(services)
    out = run(["dispatch", "--dry-run"], env)
    assert out.returncode == 0, out.stderr
    assert "rehearsal" in out.stdout and "would remind U0REQ" in out.stdout
    assert slack.calls_to("chat.postMessage") == []
    assert _state(services) == before


def test_a_real_pass_records_the_real_time_whatever_now_it_acts_as(services):
    before = services.clock()
    services.dispatcher.run_once(now=before - timedelta(days=2))  # `dispatch --now <past>` acts for real
    after = services.clock()
    with services.db.session() as s:
        beat = s.get(Heartbeat, "dispatch").at
    assert before <= beat <= after


def test_a_heartbeat_left_in_the_future_is_put_back_to_the_real_time(services):
    # What `dispatch --now <future>` wrote before this was a rehearsal: LearnbotWorkerDown could not fire.
    real = services.clock()
    record_heartbeat(services.db, now=real + timedelta(weeks=3))
    services.dispatcher.run_once(now=services.clock())
    with services.db.session() as s:
        beat = s.get(Heartbeat, "dispatch").at
    assert real <= beat <= services.clock()
    # Within clock skew, an older beat still never moves it back.
    record_heartbeat(services.db, now=beat - timedelta(minutes=1))
    with services.db.session() as s:
        assert s.get(Heartbeat, "dispatch").at == beat


def test_digest_with_a_future_now_prints_it_and_posts_nothing(env, services, slack):
    later = services.clock() + timedelta(weeks=3)
    out = run(["digest", "--now", later.isoformat(), "--channel", "C0DIGEST01"], env)
    assert out.returncode == 0, out.stderr
    assert "rehearsal of the digest to C0DIGEST01" in out.stdout and "not posted" in out.stdout
    assert "L&D digest" in out.stdout
    assert slack.calls_to("chat.postMessage") == []
    assert _state(services)["digests"] == 0


def test_help_says_a_future_now_is_a_rehearsal():
    out = run(["dispatch", "--help"], {})
    assert out.returncode == 0 and "rehearsal" in out.stdout and "--dry-run" in out.stdout
