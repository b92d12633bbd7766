"""Milestone reminders over HTTP: on time in each person's zone, exactly once, and their buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.holidays import reminder_day
from bot.services.calendar import HolidayCalendar
from bot.store.models import Job, Milestone, Reminder, Request, RequestStatus
from tests.e2e.harness import wait_until
from tests.samples import REQUESTER_ZONE, SampleDates, slack_state

pytestmark = pytest.mark.e2e
NEW_YORK, SYDNEY = REQUESTER_ZONE, "Australia/Sydney"  # U0REQ's and U0COOWNER's zones

HOLIDAYS = HolidayCalendar()


@dataclass(frozen=True)
class Moments:
    """When the sample requests' reminders are due, on the sample dates moved ahead of the app's clock.

    A reminder is due at 09:00 on its step's date in the recipient's zone, or on the working day
    before when that date is a public holiday where they live (the samples' 2027-02-15 is Presidents'
    Day in the US; the moved dates may land on another holiday): computed, never assumed.
    """

    dates: SampleDates

    def due(self, fixed: str, zone: str, country: str) -> datetime:
        day = reminder_day(self.dates.day(fixed), is_holiday=HOLIDAYS.is_holiday_in(country))
        return datetime.combine(day, clock_time(9), tzinfo=ZoneInfo(zone)).astimezone(UTC)

    @property
    def review_due(self) -> datetime:
        return self.due("2027-02-15", NEW_YORK, "US")  # content-review: "Review needed by", a Monday

    @property
    def collaborate_ny(self) -> datetime:
        # new-pathway launches on a Wednesday; "collaborate" is 4 weeks before, also a Wednesday.
        return self.due("2027-02-03", NEW_YORK, "US")

    @property
    def collaborate_sydney(self) -> datetime:
        return self.due("2027-02-03", SYDNEY, "AU")  # the evening before in New York


@pytest.fixture
def at(dates) -> Moments:
    return Moments(dates)




def reminders_to(slack, user):
    """Reminder DMs as stored by the stand-in (after any chat.update), oldest first."""
    return [m for m in slack.messages(user)
            if (m.get("metadata") or {}).get("event_type") == "learnbot_reminder"]


def filed(app, slack, gitlab, services, dates, key="content-review", raw=None):
    app.submit(key, slack_state(raw or dates.raw(key)))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    wait_until(lambda: _request(services).status is RequestStatus.OPEN)
    wait_until(lambda: any(button(m, "learn.request.close") for m in slack.messages("U0REQ")))  # confirmation
    wait_until(lambda: _no_jobs_pending(services))  # the listener's thread has recorded the DM as sent
    return issue


def _no_jobs_pending(services) -> bool:
    with services.db.session() as s:
        return not s.scalars(select(Job).where(Job.finished_at.is_(None))).first()


def _request(services) -> Request:
    with services.db.session() as s:
        return s.scalars(select(Request)).one()


def _milestone(services, key) -> Milestone:
    with services.db.session() as s:
        return s.scalars(select(Milestone).where(Milestone.key == key)).one()


def dispatch(services, at):
    return services.dispatcher.run_once(now=at)


def button(message, action_id):
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element
    return None


# --- on time, once ----------------------------------------------------------------------------


def test_reminder_comes_at_nine_local_once_and_names_step_date_and_issue(app, slack, gitlab, services, dates, at):
    issue = filed(app, slack, gitlab, services, dates)
    dispatch(services, at.review_due - timedelta(hours=6))
    dispatch(services, at.review_due - timedelta(minutes=1))
    assert reminders_to(slack, "U0REQ") == []

    report = dispatch(services, at.review_due)
    [message] = reminders_to(slack, "U0REQ")
    assert "Review needed by" in message["text"] and dates.iso("2027-02-15") in message["text"]
    assert issue["web_url"] in str(message["blocks"])
    for action in ("learn.reminder.done", "learn.reminder.snooze_day", "learn.reminder.snooze_week"):
        assert button(message, action) is not None
    assert button(message, "learn.open_issue")["url"] == issue["web_url"]
    assert any("1 sent" in line for line in report.lines())

    dispatch(services, at.review_due)
    dispatch(services, at.review_due + timedelta(hours=3))
    assert len(reminders_to(slack, "U0REQ")) == 1


def test_each_owner_is_reminded_at_nine_in_their_own_zone(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates, "new-pathway")
    dispatch(services, at.collaborate_sydney - timedelta(minutes=1))
    assert reminders_to(slack, "U0COOWNER") == [] and reminders_to(slack, "U0REQ") == []
    dispatch(services, at.collaborate_sydney)
    assert [m["text"] for m in reminders_to(slack, "U0COOWNER")] == [
        # Slack shows &amp; as "&": text is escaped the way Slack's formatting guide asks.
        "Reminder: Start collaboration on pathway needs with the L&amp;D team is due Wednesday "
        f"{dates.iso('2027-02-03')} for “New pathway: Community Learning Pathway”"]
    assert reminders_to(slack, "U0REQ") == []  # still the evening before in New York
    dispatch(services, at.collaborate_ny)
    assert len(reminders_to(slack, "U0REQ")) == 1 and len(reminders_to(slack, "U0COOWNER")) == 1


def test_weekend_step_is_reminded_on_the_friday_before(app, slack, gitlab, services, dates, at):
    raw = dates.raw("content-review", needed_by=dates.iso("2027-02-14"))  # a Sunday
    filed(app, slack, gitlab, services, dates, raw=raw)
    assert _milestone(services, "needed-by").due_on.isoformat() == dates.iso("2027-02-12")  # the Friday before
    friday = at.due("2027-02-12", NEW_YORK, "US")  # 09:00 that Friday, or earlier if it is a US holiday
    dispatch(services, friday - timedelta(minutes=1))
    assert reminders_to(slack, "U0REQ") == []
    dispatch(services, friday)
    assert len(reminders_to(slack, "U0REQ")) == 1


def test_rate_limited_send_is_retried_and_delivered_exactly_once(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates)
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    results = dispatch(services, at.review_due).reminders
    assert [r.said for r in results] == ["sent"]
    assert len(reminders_to(slack, "U0REQ")) == 1
    assert len([c for c in slack.calls_to("chat.postMessage") if c.status == 429]) == 1


def test_four_429s_in_a_row_never_cancel_a_reminder_it_waits_as_slack_says(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates)
    slack.fail_next("chat.postMessage", status=429, retry_after=1, times=4)  # the client's 3 retries, and one more
    [waiting] = dispatch(services, at.review_due).reminders
    assert waiting.said == "waiting" and "429" in waiting.detail
    with services.db.session() as s:
        row = s.get(Reminder, waiting.item_id)
        assert row.cancelled_at is None and row.sent_at is None and row.attempts == 0  # not a failed try
        assert at.review_due < row.due_at <= at.review_due + timedelta(seconds=2)  # after Retry-After, no later
    assert [r.said for r in dispatch(services, at.review_due + timedelta(seconds=2)).reminders] == ["sent"]
    assert len(reminders_to(slack, "U0REQ")) == 1


@pytest.mark.parametrize("fault", [{"status": 500}, {"drop": True}], ids=["5xx", "lost answer"])
def test_send_that_reached_slack_but_failed_is_not_sent_twice(app, slack, gitlab, services, dates, at, fault):
    filed(app, slack, gitlab, services, dates)
    slack.fail_next("chat.postMessage", after_effect=True, **fault)
    assert [r.said for r in dispatch(services, at.review_due).reminders] == ["retry"]  # Slack may have posted it
    # The next try (backoff: a minute) finds it in the DM's history and records it instead of posting again.
    assert [r.said for r in dispatch(services, at.review_due + timedelta(minutes=2)).reminders] == ["already sent"]
    dispatch(services, at.review_due + timedelta(minutes=10))
    assert len(reminders_to(slack, "U0REQ")) == 1


def test_slack_down_all_pass_retries_next_pass_without_duplicates(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates)
    slack.fail_next("chat.postMessage", status=503)  # one try per pass: the next one is a minute later
    assert [r.said for r in dispatch(services, at.review_due).reminders] == ["retry"]
    assert reminders_to(slack, "U0REQ") == []
    assert [r.said for r in dispatch(services, at.review_due + timedelta(minutes=2)).reminders] == ["sent"]
    assert len(reminders_to(slack, "U0REQ")) == 1


# --- Done and Snooze ---------------------------------------------------------------------------


def test_done_by_owner_records_step_updates_message_and_ticks_the_issue_box(app, slack, gitlab, services, dates, at):
    issue = filed(app, slack, gitlab, services, dates)
    # Someone edits the description in GitLab meanwhile; learnbot must keep their words.
    edited = issue["description"] + "\n\nNote from the L&D team: please loop in @ada.\n"
    edited = gitlab.update_issue(issue["iid"], description=edited)["description"]
    dispatch(services, at.review_due)
    [message] = reminders_to(slack, "U0REQ")

    app.block_action("learn.reminder.done", value=button(message, "learn.reminder.done")["value"],
                     message=message)
    wait_until(lambda: slack.calls_to("chat.update"))
    [updated] = reminders_to(slack, "U0REQ")
    assert button(updated, "learn.reminder.done") is None and "Done" in str(updated["blocks"])
    assert _milestone(services, "needed-by").done_by == "U0REQ"

    dispatch(services, at.review_due + timedelta(minutes=1))
    description = gitlab.issue(issue["iid"])["description"]
    due = dates.iso("2027-02-15")
    assert f"- [x] {due}" in description
    assert "Note from the L&D team: please loop in @ada." in description
    assert description.replace(f"- [x] {due}", f"- [ ] {due}") == edited
    assert gitlab.quick_actions_applied(issue["iid"]) == []


def test_stranger_cannot_press_done_or_snooze(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates)
    dispatch(services, at.review_due)
    [message] = reminders_to(slack, "U0REQ")
    value = button(message, "learn.reminder.done")["value"]
    app.block_action("learn.reminder.done", value=value, message=message, user="U0STRANGER")
    app.block_action("learn.reminder.snooze_week", value=value, message=message, user="U0STRANGER")
    refusals = wait_until(lambda: len(slack.calls_to("chat.postEphemeral")) == 2 and slack.calls_to(
        "chat.postEphemeral"))
    assert all(c.body["user"] == "U0STRANGER" and "Only the requester" in c.body["text"] for c in refusals)
    assert slack.calls_to("chat.update") == []
    assert _milestone(services, "needed-by").done_at is None
    with services.db.session() as s:
        assert s.scalars(select(Reminder)).one().due_at == at.review_due


def test_admin_may_press_done(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates)
    dispatch(services, at.review_due)
    [message] = reminders_to(slack, "U0REQ")
    app.block_action("learn.reminder.done", value=button(message, "learn.reminder.done")["value"],
                     message=message, user="U0ADMIN")
    wait_until(lambda: slack.calls_to("chat.update"))
    assert _milestone(services, "needed-by").done_by == "U0ADMIN"


def test_snooze_moves_only_that_reminder_and_it_comes_again(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates, "new-pathway")
    dispatch(services, at.collaborate_ny)
    [mine] = [m for m in reminders_to(slack, "U0REQ")]
    pressed_at = services.clock()
    app.block_action("learn.reminder.snooze_day", value=button(mine, "learn.reminder.snooze_day")["value"],
                     message=mine)
    wait_until(lambda: slack.calls_to("chat.update"))
    assert "Snoozed" in str(reminders_to(slack, "U0REQ")[0]["blocks"])
    with services.db.session() as s:
        rows = {r.recipient_id: r for r in s.scalars(select(Reminder).join(Milestone)
                                                     .where(Milestone.key == "collaborate"))}
    assert rows["U0REQ"].sent_at is None
    assert timedelta(hours=23) < rows["U0REQ"].due_at - pressed_at <= timedelta(days=1, minutes=1)
    assert rows["U0COOWNER"].sent_at is not None  # the co-owner's reminder is not moved
    assert _milestone(services, "collaborate").done_at is None

    dispatch(services, rows["U0REQ"].due_at)
    again = [m for m in reminders_to(slack, "U0REQ") if "collaboration" in m["text"]]
    assert len(again) == 2 and button(again[-1], "learn.reminder.done") is not None


def test_done_by_one_owner_stops_the_other_owners_reminder(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates, "new-pathway")
    dispatch(services, at.collaborate_sydney)
    [theirs] = reminders_to(slack, "U0COOWNER")
    app.block_action("learn.reminder.done", value=button(theirs, "learn.reminder.done")["value"],
                     message=theirs, user="U0COOWNER")
    wait_until(lambda: _milestone(services, "collaborate").done_at)
    dispatch(services, at.collaborate_ny)
    assert reminders_to(slack, "U0REQ") == []


# --- closing and re-planning ------------------------------------------------------------------


def confirmation(slack):
    return next(m for m in slack.messages("U0REQ") if button(m, "learn.request.close"))


def test_close_button_stops_reminders_and_closes_the_issue(app, slack, gitlab, services, dates, at):
    issue = filed(app, slack, gitlab, services, dates, "new-pathway")
    message = wait_until(lambda: confirmation(slack))
    app.block_action("learn.request.close", value=button(message, "learn.request.close")["value"], message=message)
    wait_until(lambda: _request(services).status is RequestStatus.CLOSED)
    wait_until(lambda: slack.calls_to("chat.update"))
    assert "closed" in slack.messages("U0REQ")[-1]["text"]

    dispatch(services, at.collaborate_sydney - timedelta(days=1))
    assert gitlab.issue(issue["iid"])["state"] == "closed"
    for moment in (at.collaborate_sydney, at.collaborate_ny, dates.at("2027-03-03", 9, NEW_YORK)):
        dispatch(services, moment)
    assert reminders_to(slack, "U0REQ") == [] and reminders_to(slack, "U0COOWNER") == []


@pytest.mark.parametrize("action_id", ["learn.reminder.done", "learn.reminder.snooze_day",
                                       "learn.reminder.snooze_week"])
def test_a_button_on_a_reminder_that_retention_purged_says_the_request_is_closed(app, slack, gitlab, services, dates,
                                                                                 at, action_id):
    filed(app, slack, gitlab, services, dates)
    dispatch(services, at.review_due)
    [message] = reminders_to(slack, "U0REQ")
    app.block_action("learn.request.close", value=button(confirmation(slack), "learn.request.close")["value"],
                     message=confirmation(slack))
    wait_until(lambda: _request(services).status is RequestStatus.CLOSED)
    retention = services.dispatcher.housekeeping.retention
    later = at.review_due + timedelta(days=retention.days + 1)  # the DM was sent then; closed before it
    assert retention.purge(now=later, pause=0).deleted.get("reminders") == 1

    # The DM keeps its buttons for ever; pressed now, they tell the presser, where they pressed.
    resp = app.block_action(action_id, value=button(message, action_id)["value"], message=message)
    assert resp.status_code == 200, resp.text
    told = wait_until(lambda: slack.calls_to("chat.postEphemeral"))
    assert told[-1].body["user"] == "U0REQ" and "This request is closed." in told[-1].body["text"]
    assert [c for c in slack.calls_to("chat.update") if c.body["ts"] == message["ts"]] == []  # the DM stays


def test_stranger_cannot_close(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates, "new-pathway")
    message = wait_until(lambda: confirmation(slack))
    app.block_action("learn.request.close", value=button(message, "learn.request.close")["value"],
                     message=message, user="U0STRANGER")
    wait_until(lambda: slack.calls_to("chat.postEphemeral"))
    assert _request(services).status is RequestStatus.OPEN


def test_changing_the_launch_date_replans_open_steps_reminders_and_the_issue(app, slack, gitlab, services, dates, at):
    issue = filed(app, slack, gitlab, services, dates, "new-pathway")
    opened_on = _milestone(services, "open-issue").due_on  # done at submission
    message = wait_until(lambda: confirmation(slack))
    app.block_action("learn.request.change_date", value=button(message, "learn.request.change_date")["value"],
                     message=message)
    form = slack.wait_for("views.open")[0].body["view"]
    assert form["callback_id"] == "learn.change_date"
    assert form["blocks"][1]["element"]["initial_date"] == dates.iso("2027-03-03")

    view = {"id": "V0REPLAN", "callback_id": "learn.change_date", "private_metadata": form["private_metadata"],
            "state": {"values": {"anchor": {"value": {"type": "datepicker",
                                                      "selected_date": dates.iso("2027-03-17")}}}}}
    past = {**view, "state": {"values": {"anchor": {"value": {"type": "datepicker",
                                                                 "selected_date": "2020-01-01"}}}}}
    refused = app.interaction(_submission(past)).json()
    assert refused["response_action"] == "errors" and "past" in refused["errors"]["anchor"]

    answer = app.interaction(_submission(view)).json()
    assert answer["response_action"] == "update" and dates.iso("2027-02-17") in str(answer["view"])
    assert _milestone(services, "collaborate").due_on.isoformat() == dates.iso("2027-02-17")
    assert _milestone(services, "open-issue").due_on == opened_on  # done: keeps its date
    assert _request(services).anchor_date.isoformat() == dates.iso("2027-03-17")

    dispatch(services, at.collaborate_ny)  # the old date: nothing now
    assert reminders_to(slack, "U0REQ") == []
    assert dates.iso("2027-02-17") in gitlab.issue(issue["iid"])["description"]
    assert f"- [ ] {dates.iso('2027-03-17')}" in gitlab.issue(issue["iid"])["description"]
    dispatch(services, at.due("2027-02-17", NEW_YORK, "US"))
    assert len(reminders_to(slack, "U0REQ")) == 1


def _submission(view):
    return {"type": "view_submission", "team": {"id": "T0LEARN01", "domain": "learnbot-test"},
            "user": {"id": "U0REQ", "username": "u0req", "name": "u0req", "team_id": "T0LEARN01"},
            "api_app_id": "A0LEARN", "token": "legacy", "trigger_id": "1.replan",
            "view": {"type": "modal", "title": {"type": "plain_text", "text": "Change the date"}, "blocks": [],
                     "app_id": "A0LEARN", "bot_id": "B0LEARN", "hash": "h", **view},
            "response_urls": [], "is_enterprise_install": False, "enterprise": None}


def test_someone_who_moved_zone_is_reminded_at_nine_in_the_new_one(app, slack, gitlab, services, dates, at):
    filed(app, slack, gitlab, services, dates)
    slack.add_user("U0REQ", tz="Asia/Tokyo", name="Ada Lovelace")  # moved; Slack's profile says so
    tokyo_nine = at.due("2027-02-15", "Asia/Tokyo", "JP")  # hours before 09:00 in New York
    dispatch(services, tokyo_nine - timedelta(minutes=1))
    assert reminders_to(slack, "U0REQ") == []
    dispatch(services, tokyo_nine)
    assert len(reminders_to(slack, "U0REQ")) == 1
    dispatch(services, at.review_due)
    assert len(reminders_to(slack, "U0REQ")) == 1
