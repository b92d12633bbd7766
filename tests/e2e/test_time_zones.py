"""Time zones in bulk: one users.list pass a day (paged, resumable), user_change events, no users.info per reminder."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.gateways.pace import Rule
from bot.store.models import DirectoryPass, Milestone, Person, Reminder, Request, RequestStatus

pytestmark = pytest.mark.e2e

# A Wednesday with no public holiday in GB, the US or Japan. At 14:00 UTC it is past 09:00 in
# London (09:00 UTC), Tokyo (00:00 UTC) and New York (14:00 UTC), not yet in Los Angeles (17:00 UTC).
DAY = date(2027, 3, 10)
AFTERNOON = datetime(2027, 3, 10, 14, 0, tzinfo=UTC)
LA_NINE = datetime(2027, 3, 10, 17, 0, tzinfo=UTC)
ZONES = ("Europe/London", "Asia/Tokyo", "America/New_York")


def people(slack, count: int) -> list[str]:
    """`count` more members of the workspace, in turn in ZONES."""
    ids = [f"U2P{i:05d}" for i in range(count)]
    for i, uid in enumerate(ids):
        slack.add_user(uid, tz=ZONES[i % len(ZONES)], name=f"person.{i}")
    return ids


def known(services, ids: list[str], *, zones: dict[str, str] | None = None, days_old: int = 3) -> None:
    """learnbot met them before: their zones (ZONES in turn, or `zones`) cached `days_old` days ago."""
    with services.db.session() as s:
        for i, uid in enumerate(ids):
            tz = (zones or {}).get(uid) or ZONES[i % len(ZONES)]
            s.add(Person(slack_user_id=uid, tz=tz, display_name=uid, refreshed_at=AFTERNOON - timedelta(days=days_old)))


def reminders_for(services, ids: list[str]) -> None:
    """One step due on DAY with a reminder for each of them, due since midnight."""
    with services.db.session() as s:
        request = Request(support_model="content-review", requester_id=ids[0], title="Reminder day", answers={},
                          status=RequestStatus.OPEN, created_at=AFTERNOON - timedelta(days=30),
                          updated_at=AFTERNOON - timedelta(days=30))
        step = Milestone(key="step", title="Send the draft", position=0, due_on=DAY)
        request.milestones.append(step)
        for uid in ids:
            step.reminders.append(Reminder(recipient_id=uid, zone_checked=True,
                                           due_at=datetime(2027, 3, 10, tzinfo=UTC)))
        s.add(request)


def args(call) -> dict:
    """A call's arguments, from the query string or the form body (slack_sdk sends users.list either way)."""
    return {**call.query, **(call.body if isinstance(call.body, dict) else {})}


def outcomes(report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in report.reminders:
        counts[r.said] = counts.get(r.said, 0) + 1
    return counts


def reminder_of(services, uid: str) -> Reminder:
    with services.db.session() as s:
        return s.scalars(select(Reminder).where(Reminder.recipient_id == uid)).one()


def test_a_reminder_day_reads_every_zone_from_one_paged_users_list_pass_and_no_users_info(slack, services):
    everyone = people(slack, 444)  # 450 members with the fixture's six: three pages of 200
    slack.add_user("B0HELPER1", is_bot=True)  # listed by Slack, never stored
    recipients = everyone[:30]
    moved = recipients[7]  # cached in London; Slack now says Los Angeles
    known(services, recipients, zones={moved: "Europe/London"})
    reminders_for(services, recipients)
    slack.add_user(moved, tz="America/Los_Angeles", name="moved")

    report = services.dispatcher.run_once(now=AFTERNOON)

    assert report.errors == []
    assert (report.people.pages, report.people.finished) == (3, True)
    pages = slack.calls_to("users.list")
    assert [args(c).get("limit") for c in pages] == ["200"] * 3
    assert "cursor" not in args(pages[0])  # one pass: begun once, each next page by Slack's cursor
    assert [args(c).get("cursor") for c in pages[1:]] == [
        c.response["response_metadata"]["next_cursor"] for c in pages[:2]]
    assert pages[2].response["response_metadata"]["next_cursor"] == ""
    assert slack.calls_to("users.info") == []  # not one look-up for 30 reminders
    assert outcomes(report) == {"sent": 29, "rescheduled": 1}
    assert reminder_of(services, moved).due_at == LA_NINE  # 09:00 where Slack says they are now
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 450  # the bot is not a person
        assert s.get(Person, everyone[100]).refreshed_at == AFTERNOON
        assert s.get(DirectoryPass, "users.list").finished_at == AFTERNOON

    later = services.dispatcher.run_once(now=LA_NINE)  # the same day: no second pass
    assert outcomes(later) == {"sent": 1} and later.people is None
    assert len(slack.calls_to("users.list")) == 3 and slack.calls_to("users.info") == []

    # Someone who joined after today's pass costs one users.info, once; a day later the pass runs again.
    slack.add_user("U3NEWBIE1", tz="Asia/Tokyo", name="newbie")
    reminders_for(services, ["U3NEWBIE1"])
    assert outcomes(services.dispatcher.run_once(now=LA_NINE + timedelta(minutes=1))) == {"sent": 1}
    assert [c.body.get("user") for c in slack.calls_to("users.info")] == ["U3NEWBIE1"]
    services.dispatcher.run_once(now=AFTERNOON + timedelta(days=1))
    assert len(slack.calls_to("users.list")) == 6


class FrozenClock:
    """The pace's monotonic clock, moved by the test: a page's wait for Slack's pace is not real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_pass_slack_paces_over_several_dispatch_passes_goes_on_from_its_cursor(slack, services):
    everyone = people(slack, 444)
    later_pages = everyone[300:310]  # on page 2: still as cached days ago while page 1 is all that is read
    known(services, later_pages)
    reminders_for(services, later_pages)
    clock = FrozenClock()
    pace = services.web_client.pace
    pace.clock, pace.sleep = clock, clock.sleep
    pace.rules["users.list"] = (Rule(1),)  # as if Slack allowed one page a minute

    first = services.dispatcher.run_once(now=AFTERNOON)
    assert (first.people.pages, first.people.finished, first.errors) == (1, False, [])  # did not wait a minute
    assert outcomes(first) == {"sent": 10} and slack.calls_to("users.info") == []  # the cache, a day old or not
    assert services.dispatcher.run_once(now=AFTERNOON + timedelta(seconds=30)).people.pages == 0  # not yet
    clock.now += 61
    assert services.dispatcher.run_once(now=AFTERNOON + timedelta(minutes=1)).people.pages == 1
    clock.now += 61
    last = services.dispatcher.run_once(now=AFTERNOON + timedelta(minutes=2))
    assert (last.people.pages, last.people.finished) == (1, True)
    pages = slack.calls_to("users.list")
    assert len(pages) == 3 and "cursor" not in args(pages[0])  # begun once, never started over
    assert [args(c)["cursor"] for c in pages[1:]] == [c.response["response_metadata"]["next_cursor"]
                                                       for c in pages[:2]]
    assert [c.status for c in pages] == [200] * 3  # the pace kept inside Slack's limit: no 429
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 450


def user_change(app, user: dict) -> None:
    event = {"type": "user_change", "user": user, "cache_ts": int(time.time()), "event_ts": f"{time.time():.6f}"}
    body = {"token": "legacy", "team_id": "T0LEARN01", "api_app_id": "A0LEARN", "event": event,
            "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time())}
    resp = app.post_signed(json.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200


def test_user_change_moves_a_persons_zone_and_their_next_reminder_with_it(app, slack, services):
    known(services, ["U0REQ"], zones={"U0REQ": "America/New_York"}, days_old=0)
    with services.db.session() as s:  # today's pass has run: only the event can say they moved
        s.add(DirectoryPass(name="users.list", finished_at=AFTERNOON - timedelta(hours=1)))
    reminders_for(services, ["U0REQ"])

    user_change(app, slack.add_user("U0REQ", tz="America/Los_Angeles", name="Ada in LA"))

    with services.db.session() as s:
        person = s.get(Person, "U0REQ")
        assert (person.tz, person.display_name) == ("America/Los_Angeles", "Ada in LA")
    report = services.dispatcher.run_once(now=AFTERNOON)  # 09:00 in New York, 06:00 in Los Angeles
    assert outcomes(report) == {"rescheduled": 1} and reminder_of(services, "U0REQ").due_at == LA_NINE
    assert slack.calls_to("users.info") == [] and slack.calls_to("users.list") == []


def test_user_change_for_a_bot_or_a_deactivated_account_stores_nothing(app, slack, services):
    user_change(app, slack.add_user("B0HELPER1", is_bot=True))
    gone = slack.add_user("U0GONE001")
    user_change(app, {**gone, "deleted": True})
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 0


def test_slack_down_for_users_list_pauses_the_pass_and_reminders_still_go_from_the_cache(slack, services):
    everyone = people(slack, 6)
    known(services, everyone)
    reminders_for(services, everyone[:3])
    slack.fail_next("users.list", status=503, times=2)  # slack_sdk does not retry a 503: two passes see it
    first = services.dispatcher.run_once(now=AFTERNOON)
    assert first.errors == [] and first.people is not None and "503" in first.people.error
    assert outcomes(first) == {"sent": 3} and slack.calls_to("users.info") == []
    # Paused for a few minutes, not retried every pass; then it goes on and completes.
    assert services.dispatcher.run_once(now=AFTERNOON + timedelta(minutes=1)).people is None
    slack.clear_faults()
    later = services.dispatcher.run_once(now=AFTERNOON + timedelta(minutes=6))
    assert later.people is not None and later.people.finished and later.people.error == ""
