"""The channel digest over HTTP: what it shows, once per period with several workers, and on demand."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.container import Services, build_services
from bot.services.digest import previous_fire
from bot.store.models import Digest, Request, RequestStatus
from tests.e2e.harness import child_env, wait_until
from tests.samples import next_weekday_at, slack_state

pytestmark = pytest.mark.e2e
CHANNEL = "C0LNDTEAM"


@pytest.fixture
def monday_9() -> datetime:
    """The next Monday 09:00 UTC (LEARNBOT_DIGEST_CRON's default) after the app's clock: a digest still to come."""
    return next_weekday_at(Services.clock(), 0, 9, UTC)


@pytest.fixture
def digest_env(env, slack):
    slack.add_channel(CHANNEL, name="lnd-team", bot_member=True)  # the channel the bot was invited to
    return {**env, "LEARNBOT_DIGEST_CHANNEL": CHANNEL}


@pytest.fixture
def digest_services(digest_env, db):
    built = build_services(load_settings(digest_env), gitlab_timeout=2.0)
    yield built
    built.close()




def digests_in(slack):
    return [c for c in slack.accepted("chat.postMessage") if c.body.get("channel") == CHANNEL]


def all_text(call) -> str:
    parts = [call.body.get("text", "")]
    for b in call.body.get("blocks") or []:
        if isinstance(b.get("text"), dict):
            parts.append(b["text"]["text"])
        parts.extend(e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str))
    return "\n".join(parts)


def run(args, env, timeout=120):
    return subprocess.run([sys.executable, "-m", "bot", *args], env=child_env(env), capture_output=True, text=True,
                          timeout=timeout)


def test_period_starts_at_the_latest_cron_time():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    monday_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a fixed Monday: previous_fire is a pure rule
    assert previous_fire("0 9 * * 1", berlin, datetime(2026, 12, 2, 12, tzinfo=UTC)) == datetime(
        2026, 11, 30, 9, tzinfo=berlin)
    assert previous_fire("0 9 * * 1", UTC, monday_9) == monday_9
    assert previous_fire("0 9 * * 1", UTC, monday_9 - timedelta(seconds=1)) == monday_9 - timedelta(days=7)


def test_digest_shows_new_requests_queue_and_coming_up_each_linking_its_issue(app, slack, gitlab, digest_services,
                                                                              dates, monday_9):
    app.submit("new-content", slack_state(dates.raw("new-content")))
    soon = (monday_9 + timedelta(days=10)).date()  # a Thursday in the digest's next four weeks
    app.submit("content-review", slack_state(dates.raw("content-review", needed_by=soon.isoformat())))
    wait_until(lambda: len(gitlab.issues()) == 2)

    def all_open():  # a new transaction each look: one held open would keep seeing (and locking) the old rows
        with digest_services.db.session() as s:
            return all(r.status is RequestStatus.OPEN for r in s.scalars(select(Request)))

    wait_until(all_open)
    posted = digest_services.digest.post_now(now=monday_9)
    [call] = digests_in(slack)
    text = all_text(call)
    assert posted.channel == CHANNEL
    assert "New requests" in text and "Merge request etiquette" in text and "Bias for async" in text
    assert "Triage queue" in text and "score" in text
    assert "Bias for async" in text.split("next 4 weeks")[1]  # needed by in ten days: coming up
    for issue in gitlab.issues():
        assert issue["web_url"] in text
    assert len(call.body["blocks"]) <= 50


def test_empty_week_says_so_in_one_line(slack, digest_services, monday_9):
    digest_services.digest.post_now(now=monday_9)
    [call] = digests_in(slack)
    assert len(call.body["blocks"]) == 1 and "Nothing" in all_text(call)


def test_user_text_in_the_digest_pings_nobody(app, slack, gitlab, digest_services, dates, monday_9):
    raw = dates.raw("new-content", topic="<!channel> <!here> <@U0ADMIN> urgent")
    app.submit("new-content", slack_state(raw))
    wait_until(lambda: gitlab.issues())
    digest_services.digest.post_now(now=monday_9)
    text = all_text(digests_in(slack)[0])
    assert "<!channel>" not in text and "<!here>" not in text and "<@U0ADMIN>" not in text
    assert "&lt;!channel&gt;" in text


def test_scheduled_digest_posts_once_per_period(slack, digest_services, monday_9):
    digest = digest_services.digest
    assert digest.run_due(now=monday_9 - timedelta(minutes=1)) is None  # last week's window has passed
    assert digest.run_due(now=monday_9) is not None
    assert digest.run_due(now=monday_9 + timedelta(minutes=1)) is None
    assert digest.run_due(now=monday_9 + timedelta(hours=3)) is None
    assert len(digests_in(slack)) == 1
    assert digest.run_due(now=monday_9 + timedelta(days=7)) is not None  # next Monday: a new period
    assert len(digests_in(slack)) == 2


def test_two_workers_at_the_same_time_post_one_digest(slack, digest_env, digest_services, db, monday_9):
    # Last Monday's 09:00 (not ahead of the real clock: a --now ahead of it is only a rehearsal).
    now = (monday_9 - timedelta(days=7)).isoformat()
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "dispatch", "--now", now],
                              env=child_env(digest_env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len(digests_in(slack)) == 1
    assert sum("digest to C0LNDTEAM: posted" in out for out, _ in outs) == 1
    with digest_services.db.session() as s:
        [row] = s.scalars(select(Digest)).all()
        assert row.posted_at is not None and row.slack_ts


def test_a_failed_post_is_retried_in_the_same_period(slack, digest_services, monday_9):
    slack.fail_next(lambda c: c.api_method == "chat.postMessage", status=500)
    first = digest_services.digest.run_due(now=monday_9)
    assert first is not None and first.skipped
    assert digests_in(slack) == []
    assert digest_services.digest.run_due(now=monday_9 + timedelta(minutes=2)).skipped is None
    assert len(digests_in(slack)) == 1


def test_learnbot_digest_command_posts_on_demand_and_explains_failures(slack, digest_env, db, monday_9):
    out = run(["digest", "--now", (monday_9 - timedelta(days=7)).isoformat()], digest_env)  # a past --now acts
    assert out.returncode == 0, out.stderr
    assert f"digest posted to {CHANNEL}" in out.stdout
    assert len(digests_in(slack)) == 1

    out = run(["digest", "--channel", "C0NOWHERE"], digest_env)
    assert out.returncode == 1 and "channel_not_found" in out.stderr and "invite learnbot" in out.stderr
    slack.add_channel("C0ELSEWHERE", name="elsewhere", bot_member=False)
    out = run(["digest", "--channel", "C0ELSEWHERE"], digest_env)
    assert out.returncode == 1 and "not_in_channel" in out.stderr and "invite learnbot" in out.stderr
    assert len(digests_in(slack)) == 1

    no_channel = {k: v for k, v in digest_env.items() if k != "LEARNBOT_DIGEST_CHANNEL"}
    out = run(["digest"], no_channel)
    assert out.returncode == 1 and "LEARNBOT_DIGEST_CHANNEL" in out.stderr
