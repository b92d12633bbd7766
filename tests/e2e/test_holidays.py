"""Public holidays and /learn settings over HTTP: a reminder on a holiday in the recipient's country comes the
working day before; the country comes from the Slack time zone or the person's setting; leave pauses reminders."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select

from bot.store.models import Milestone, Reminder, Request
from tests.e2e.harness import TEAM, wait_until
from tests.samples import slack_state

pytestmark = pytest.mark.e2e
BANGKOK, LONDON = ZoneInfo("Asia/Bangkok"), ZoneInfo("Europe/London")




def a_thai_holiday(services) -> date:
    """A weekday some weeks ahead that is a public holiday in Thailand but not in Vietnam or the UK, and whose
    day before is a Thai working day (computed from the clock, so the test holds on any date)."""
    start = services.clock().date() + timedelta(days=21)
    years = [start.year, start.year + 1, start.year + 2]
    th, vn, gb = (holidays.country_holidays(c, years=years) for c in ("TH", "VN", "GB"))
    for offset in range(730):
        day = start + timedelta(days=offset)
        before = day - timedelta(days=1)
        if (day.weekday() < 5 and day in th and day not in vn and day not in gb
                and before.weekday() < 5 and before not in th):
            return day
    raise AssertionError("no suitable Thai holiday in two years")


def at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=zone)


def review(needed_by: date) -> dict:
    return {"title": "Onboarding page", "handbook_urls": "https://handbook.gitlab.com/handbook/people-group/",
            "review_focus": ["handbook-first"], "needed_by": needed_by.isoformat(), "notes": ""}


def reminders_to(slack, user):
    return [m for m in slack.messages(user) if (m.get("metadata") or {}).get("event_type") == "learnbot_reminder"]


def save_settings(app, user: str, *, country: str = "", hour: str = "default", paused: str | None = None):
    state = {
        "country": {"value": {"type": "plain_text_input", "value": country}},
        "hour": {"value": {"type": "static_select", "selected_option": {"value": hour}}},
        "paused": {"value": {"type": "datepicker", "selected_date": paused}},
    }
    return app.interaction({
        "type": "view_submission", "team": TEAM, "api_app_id": "A0LEARN", "token": "legacy",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
        "trigger_id": "1.settings",
        "view": {"id": "V0SETTINGS" + user, "team_id": TEAM["id"], "type": "modal", "callback_id": "learn.settings",
                 "private_metadata": "", "hash": "1.a", "title": {"type": "plain_text", "text": "Your reminders"},
                 "blocks": [], "state": {"values": state}, "app_id": "A0LEARN"},
        "response_urls": [], "is_enterprise_install": False,
    })


def request_from(app, slack, gitlab, user: str, needed_by: date, filed_before: int) -> None:
    """As a person does it: /learn content-review (learnbot learns their zone), then Submit."""
    app.command("content-review", user=user)
    slack.wait_for(lambda c: c.api_method == "users.info" and c.body.get("user") == user)
    assert app.submit("content-review", slack_state(review(needed_by)), user=user).json()["response_action"] == \
        "update"
    wait_until(lambda: len(gitlab.issues()) > filed_before)


@pytest.fixture
def people(slack):
    slack.add_user("U0THAI", tz="Asia/Bangkok", name="Somchai")
    slack.add_user("U0VIET", tz="Asia/Bangkok", name="Lan")  # the same zone, another country
    slack.add_user("U0LON", tz="Europe/London", name="Ada")


def test_holiday_moves_a_reminder_only_where_it_is_a_holiday(app, slack, gitlab, services, people):
    day = a_thai_holiday(services)
    # Lan lives in Vietnam, in the zone Slack calls Asia/Bangkok (shared by TH, VN, KH, LA): she says so.
    app.command("settings", user="U0VIET")
    slack.wait_for(lambda c: c.api_method == "views.open" and c.body["view"].get("callback_id") == "learn.settings")
    # Opened at once; the zone is looked up after, and the open form updated with it.
    form = slack.wait_for(lambda c: c.api_method == "views.update" and
                          c.body["view"].get("callback_id") == "learn.settings")[0].body["view"]
    assert "*Asia/Bangkok*" in form["blocks"][0]["text"]["text"] and "VN" in form["blocks"][0]["text"]["text"]
    saved = save_settings(app, "U0VIET", country="vn").json()
    assert saved["response_action"] == "update" and "VN" in str(saved["view"]["blocks"])

    for n, user in enumerate(("U0THAI", "U0VIET", "U0LON")):
        request_from(app, slack, gitlab, user, day, n)

    # The day before, 09:30 in Bangkok: only the person for whom `day` is a holiday is reminded.
    services.dispatcher.run_once(now=at(day - timedelta(days=1), 9, 30, BANGKOK))
    assert len(reminders_to(slack, "U0THAI")) == 1
    assert reminders_to(slack, "U0VIET") == [] and reminders_to(slack, "U0LON") == []
    with services.db.session() as s:
        thai = s.scalars(select(Reminder).where(Reminder.recipient_id == "U0THAI")).one()
        assert thai.due_at == at(day - timedelta(days=1), 9, 0, BANGKOK)

    # On the day itself, at each one's 09:00: the others, once each.
    services.dispatcher.run_once(now=at(day, 9, 30, BANGKOK))
    assert len(reminders_to(slack, "U0VIET")) == 1 and reminders_to(slack, "U0LON") == []
    services.dispatcher.run_once(now=at(day, 9, 30, LONDON))
    assert [len(reminders_to(slack, u)) for u in ("U0THAI", "U0VIET", "U0LON")] == [1, 1, 1]


def test_leave_and_a_personal_hour_move_pending_reminders(app, slack, gitlab, services, people):
    start = services.clock().date() + timedelta(days=40)
    gb = holidays.country_holidays("GB", years=[start.year, start.year + 1])
    day = next(start + timedelta(days=i) for i in range(60)
               if (start + timedelta(days=i)).weekday() == 2 and all(
                   start + timedelta(days=i + k) not in gb for k in range(-2, 8)))  # a Wednesday, no holidays near
    request_from(app, slack, gitlab, "U0LON", day, 0)

    # Away Wednesday to Friday: the reminder waits for Monday, at the hour Ada chose.
    resp = save_settings(app, "U0LON", hour="7", paused=(day + timedelta(days=2)).isoformat()).json()
    assert resp["response_action"] == "update" and "1 pending reminder moved" in str(resp["view"]["blocks"])
    monday = day + timedelta(days=5)
    with services.db.session() as s:
        reminder = s.scalars(select(Reminder).join(Milestone).join(Request)
                             .where(Reminder.recipient_id == "U0LON")).one()
        assert reminder.due_at == at(monday, 7, 0, LONDON)
    services.dispatcher.run_once(now=at(day, 9, 30, LONDON))
    assert reminders_to(slack, "U0LON") == []
    services.dispatcher.run_once(now=at(monday, 7, 1, LONDON))
    assert len(reminders_to(slack, "U0LON")) == 1


@pytest.mark.parametrize("fields,block,message", [
    ({"country": "Germany"}, "country", "two-letter"),
    ({"country": "QQ"}, "country", "no public-holiday calendar for QQ"),
    ({"paused": "2020-01-06"}, "paused", "in the past"),
    ({"paused": "9999-12-31"}, "paused", "more than 5 years ahead"),
])
def test_bad_settings_are_refused_in_the_form(app, services, people, fields, block, message):
    body = save_settings(app, "U0LON", **fields).json()
    assert body["response_action"] == "errors" and message in body["errors"][block]
