"""After launch over HTTP, with the clock moved past it: outcome check-ins at 30 and 90 days with the answer
the requester gave at intake, their one nudge, and the one satisfaction rating when a request ends."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.container import Services, build_services
from bot.domain.decisions import Verb
from bot.domain.report import Period
from bot.store.feedback import OutcomeCheckin, SatisfactionRating
from bot.store.models import Request, RequestStatus
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import TEAM, RunningApp, wait_until
from tests.gitlab_rules import group_mentions
from tests.samples import RAW, REQUESTER_ZONE, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
EXPECTED = "New hires ask fewer questions in <#C0HELP> <!channel>\n/close this issue @all"
TRIAGE = "C0TRIAGE"


def weekday_ahead(services: Services, days: int) -> date:
    day = services.clock().date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 0, tzinfo=UTC)


def file_request(app, gitlab, services, key: str, raw: dict) -> Request:
    count = len(gitlab.issues())
    assert app.submit(key, slack_state(raw)).json()["response_action"] == "update"
    wait_until(lambda: len(gitlab.issues()) > count)
    return wait_until(lambda: next((r for r in _requests(services) if r.status is RequestStatus.OPEN
                                    and r.gitlab_iid == gitlab.issues()[-1]["iid"]), None))


def _requests(services) -> list[Request]:
    with services.db.session() as s:
        return list(s.scalars(select(Request).order_by(Request.id)))


def checkins(services) -> list[OutcomeCheckin]:
    with services.db.session() as s:
        return list(s.scalars(select(OutcomeCheckin).order_by(OutcomeCheckin.after_days)))


def ratings(services) -> list[SatisfactionRating]:
    with services.db.session() as s:
        return list(s.scalars(select(SatisfactionRating)))


def posted(slack, prefix: str, user: str = "U0REQ") -> list[dict]:
    """Every DM learnbot posted to `user` carrying a button whose action id starts with `prefix`."""
    return [c.body for c in slack.calls_to("chat.postMessage")
            if c.body.get("channel") == user and f'"{prefix}' in json.dumps(c.body.get("blocks") or [])]


def live_message(slack, prefix: str, user: str = "U0REQ") -> dict:
    """The DM as it is now in Slack (with its channel and ts), still carrying that button."""
    return wait_until(lambda: next((m for m in reversed(slack.messages(user))
                                    if f'"{prefix}' in json.dumps(m.get("blocks") or [])), None))


def press(app, message: dict, action_id: str, *, note: str | None = None, user: str = "U0REQ"):
    """A click on one of the DM's buttons, with what was typed in its note field, as Slack sends it."""
    button = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == action_id)
    payload: dict[str, Any] = {
        "type": "block_actions", "team": TEAM, "api_app_id": "A0LEARN", "token": "legacy",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
        "trigger_id": "1.act", "actions": [{"action_id": action_id, "block_id": "b", "type": "button",
                                            "value": button["value"], "action_ts": f"{time.time():.6f}"}],
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"],
                      "is_ephemeral": False},
        "channel": {"id": message["channel"], "name": "directmessage"},
        "message": {k: v for k, v in message.items() if k != "channel"},
        "state": {"values": {"note": {"value": {"type": "plain_text_input", "value": note}}}},
    }
    return app.interaction(payload)


def own_notes(gitlab, iid: int) -> list[str]:
    return [n["body"] for n in gitlab.notes(iid) if not n.get("system")]


def ask_moment(services: Services, day: date) -> datetime:
    """When the requester (New York) is asked on `day`: 09:00 there, on that working day or the one before."""
    zone = ZoneInfo(REQUESTER_ZONE)
    moment = services.reminders.moment(day, tz=REQUESTER_ZONE, zone=zone, country=None, hour=None,
                                       paused_through=None)
    local = moment.astimezone(zone)
    assert local.hour == 9 and local.minute == 0 and local.date() <= day and local.weekday() < 5
    return moment


def pathway_raw(services: Services, expected: str | None = EXPECTED) -> dict:
    raw = {**RAW["new-pathway"], "launch_date": weekday_ahead(services, 40).isoformat()}
    if expected is not None:
        raw["expected_outcome"] = expected
    return raw


# --- outcomes ----------------------------------------------------------------------------------------


def around(services: Services, moment: datetime) -> Period:
    """A report period of three days with `moment` in its middle (days in LEARNBOT_TIMEZONE)."""
    day = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(services.settings.timezone).date()
    return Period(day - timedelta(days=1), day + timedelta(days=1))


def test_check_ins_at_30_and_90_days_show_the_answer_and_note_the_issue_once(app, slack, gitlab, services):
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    issue = gitlab.issues()[0]
    # The answer is in the issue, neutralised like every answer.
    assert "What will be different if this works" in issue["description"]
    assert "New hires ask fewer questions" in issue["description"]
    assert not re.search(r"^/close", issue["description"], re.MULTILINE) and not group_mentions(issue["description"])
    launch = request.anchor_date
    assert [(c.after_days, c.due_on) for c in checkins(services)] == [
        (30, launch + timedelta(days=30)), (90, launch + timedelta(days=90))]
    services.dispatcher.run_once(now=services.clock())  # the daily directory pass: U0REQ's zone is known

    # Nothing before its moment: the requester's 09:00 in New York.
    first = ask_moment(services, launch + timedelta(days=30))
    services.dispatcher.run_once(now=end_of(launch + timedelta(days=1)))
    services.dispatcher.run_once(now=first - timedelta(minutes=1))
    assert posted(slack, "learn.outcome:") == []
    services.dispatcher.run_once(now=first)
    services.dispatcher.run_once(now=first + timedelta(minutes=1))  # exactly once
    [dm] = posted(slack, "learn.outcome:")
    shown = json.dumps(dm["blocks"])
    assert "launched 30 days ago" in shown and "New hires ask fewer questions" in shown
    assert "<!channel>" not in shown and "<#C0HELP>" not in shown and "&lt;!channel&gt;" in shown

    # "Partly", with a note typed in the DM: recorded, the DM redrawn, the issue noted once.
    message = live_message(slack, "learn.outcome:")
    assert press(app, message, "learn.outcome:partly", note="Only one team so far\n/close <!here>").status_code == 200
    wait_until(lambda: checkins(services)[0].answered_at is not None)
    c30 = checkins(services)[0]
    assert (c30.answer, c30.note) == ("partly", "Only one team so far\n/close <!here>")
    redrawn = wait_until(lambda: [c for c in slack.calls_to("chat.update") if c.body.get("ts") == message["ts"]])
    assert "*Partly*" in json.dumps(redrawn[-1].body["blocks"]) and "learn.outcome:" not in json.dumps(
        redrawn[-1].body["blocks"])
    assert "<!here>" not in json.dumps(redrawn[-1].body)

    # A second click (a stale copy of the DM) changes nothing and says so privately.
    press(app, message, "learn.outcome:happened")
    said = slack.wait_for(lambda c: c.api_method == "chat.postEphemeral" and c.body.get("user") == "U0REQ")
    assert "answered this check-in already: Partly" in json.dumps(said[-1].body)
    assert checkins(services)[0].answer == "partly"

    services.dispatcher.run_once(now=first + timedelta(minutes=2))
    services.dispatcher.run_once(now=first + timedelta(minutes=3))
    [note] = own_notes(gitlab, issue["iid"])
    assert "Outcome check-in, 30 days after launch" in note and "**Partly**" in note
    assert "Only one team so far" in note and "New hires ask fewer questions" in note
    assert not re.search(r"^\s*/\w+", note, re.MULTILINE) and not group_mentions(note)

    # 90 days: the second check-in, with the same answer from intake.
    second = ask_moment(services, launch + timedelta(days=90))
    services.dispatcher.run_once(now=second - timedelta(minutes=1))
    assert len(posted(slack, "learn.outcome:")) == 1
    services.dispatcher.run_once(now=second)
    dms = posted(slack, "learn.outcome:")
    assert len(dms) == 2 and "launched 90 days ago" in json.dumps(dms[1]["blocks"])
    assert "New hires ask fewer questions" in json.dumps(dms[1]["blocks"])
    message = live_message(slack, "learn.outcome:")
    press(app, message, "learn.outcome:happened")
    wait_until(lambda: checkins(services)[1].answer == "happened")
    services.dispatcher.run_once(now=second + timedelta(minutes=1))
    notes = own_notes(gitlab, issue["iid"])
    assert len(notes) == 2 and "90 days after launch" in notes[1] and "**It happened**" in notes[1]

    # The L&D report counts both answers in the period they were given, and none in the period before.
    report = services.report.build(around(services, checkins(services)[1].answered_at), now=second + timedelta(days=2))
    assert report["outcomes"] == {"happened": 1, "partly": 1, "not_yet": 0, "not_relevant": 0}
    assert report["previous"]["outcomes"] == {"happened": 0, "partly": 0, "not_yet": 0, "not_relevant": 0}


def test_an_unanswered_check_in_is_nudged_once_then_stops(app, slack, gitlab, services):
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    services.dispatcher.run_once(now=services.clock())
    first = ask_moment(services, request.anchor_date + timedelta(days=30))
    # `dispatch --now` ahead of the clock says what it would ask, and asks nothing.
    rehearsed = services.dispatcher.rehearse(now=first, real=services.clock()).lines()
    assert f"  request {request.id}: would ask its requester about the outcome" in rehearsed
    assert posted(slack, "learn.outcome:") == [] and checkins(services)[0].asked_at is None
    services.dispatcher.run_once(now=first)
    assert len(posted(slack, "learn.outcome:")) == 1
    services.dispatcher.run_once(now=first + timedelta(days=7) - timedelta(minutes=1))
    assert len(posted(slack, "learn.outcome:")) == 1
    services.dispatcher.run_once(now=first + timedelta(days=7))
    dms = posted(slack, "learn.outcome:")
    assert len(dms) == 2 and dms[1]["text"].startswith("Still open")
    for days in (8, 20, 45):
        services.dispatcher.run_once(now=first + timedelta(days=days))
    assert len(posted(slack, "learn.outcome:")) == 2  # one nudge, no more (the 90-day one is not due yet)
    assert checkins(services)[0].nudged_at is not None and checkins(services)[0].answered_at is None


def test_without_an_answer_at_intake_the_requester_is_still_asked_what_changed(app, slack, gitlab, services):
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services, expected=None))
    assert "What will be different" not in gitlab.issues()[0]["description"]
    services.dispatcher.run_once(now=end_of(request.anchor_date + timedelta(days=30)))
    [dm] = posted(slack, "learn.outcome:")
    assert "did not write down at intake what would be different" in json.dumps(dm["blocks"])


def test_a_published_contribution_is_rated_at_once_and_checked_in_from_its_publication(app, slack, gitlab,
                                                                                       services):
    """An upload has no plan: its issue closed in GitLab is its launch, and the end of the request."""
    request = file_request(app, gitlab, services, "upload", {**RAW["upload"], "expected_outcome": "More allies"})
    assert "More allies" in gitlab.issues()[0]["description"]  # the creator kit carries the answer too
    payload = hooks.issue_event(gitlab.close_issue(request.gitlab_iid), action="close")
    assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), timeout=10,
                            headers=hooks.headers(hooks.event_header(payload), token="hook-secret")).status_code == 200
    wait_until(lambda: posted(slack, "learn.rate:"))
    closed_on = services.clock().astimezone(ZoneInfo(REQUESTER_ZONE)).date()
    assert [c.due_on for c in checkins(services)] == [closed_on + timedelta(days=30), closed_on + timedelta(days=90)]
    services.dispatcher.run_once(now=end_of(closed_on + timedelta(days=30)))
    [dm] = posted(slack, "learn.outcome:")
    assert "More allies" in json.dumps(dm["blocks"])
    assert len(posted(slack, "learn.rate:")) == 1


# --- satisfaction ------------------------------------------------------------------------------------


def test_the_requester_rates_a_request_once_when_it_ends_and_the_issue_is_noted(app, slack, gitlab, services):
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    iid = request.gitlab_iid
    # Open, before its launch: nobody is asked.
    services.dispatcher.run_once(now=services.clock())
    assert posted(slack, "learn.rate:") == [] and ratings(services) == []

    after_launch = end_of(request.anchor_date + timedelta(days=2))
    services.reminders.close_request(request.id, user_id="U0REQ", now=after_launch)
    assert posted(slack, "learn.rate:") == []  # owed work: the worker sends it, not the closing click
    services.dispatcher.run_once(now=after_launch + timedelta(minutes=1))
    services.dispatcher.run_once(now=after_launch + timedelta(minutes=2))
    [dm] = posted(slack, "learn.rate:")
    assert "is done" in json.dumps(dm["blocks"])
    message = live_message(slack, "learn.rate:")
    press(app, message, "learn.rate:4", note="Quick <!channel>\n/close")
    wait_until(lambda: ratings(services)[0].answered_at is not None)
    assert (ratings(services)[0].rating, ratings(services)[0].comment) == (4, "Quick <!channel>\n/close")
    redrawn = wait_until(lambda: [c for c in slack.calls_to("chat.update") if c.body.get("ts") == message["ts"]])
    assert "4 / 5" in json.dumps(redrawn[-1].body["blocks"]) and "learn.rate:" not in json.dumps(redrawn[-1].body)
    press(app, message, "learn.rate:1")  # a second click changes nothing
    said = slack.wait_for(lambda c: c.api_method == "chat.postEphemeral" and c.body.get("user") == "U0REQ")
    assert "rated this request already (4 / 5)" in json.dumps(said[-1].body)

    services.dispatcher.run_once(now=after_launch + timedelta(minutes=3))
    services.dispatcher.run_once(now=after_launch + timedelta(minutes=4))
    notes = [n for n in own_notes(gitlab, iid) if "Satisfaction" in n]
    assert len(notes) == 1 and "**4 / 5**" in notes[0] and "Quick" in notes[0]
    assert not re.search(r"^\s*/\w+", notes[0], re.MULTILINE) and not group_mentions(notes[0])
    report = services.report.build(around(services, ratings(services)[0].answered_at), now=after_launch)
    assert report["satisfaction"] == {"responses": 1, "mean": 4.0}

    # Reopened in GitLab and closed again: never asked twice.
    for action in ("reopen", "close"):
        issue = gitlab.reopen_issue(iid) if action == "reopen" else gitlab.close_issue(iid)
        payload = hooks.issue_event(issue, action=action)
        app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), timeout=10,
                         headers=hooks.headers(hooks.event_header(payload), token="hook-secret"))
        wait_until(lambda a=action: _requests(services)[0].status is (
            RequestStatus.OPEN if a == "reopen" else RequestStatus.CLOSED))
    services.dispatcher.run_once(now=after_launch + timedelta(days=1))
    assert len(posted(slack, "learn.rate:")) == 1 and len(ratings(services)) == 1


@pytest.fixture
def deciding(env, db, slack) -> Iterator[tuple[RunningApp, Services]]:
    """learnbot whose requests wait for the L&D team's decision (LEARNBOT_TRIAGE_CHANNEL)."""
    slack.invite_bot(TRIAGE)
    services = build_services(load_settings({**env, "LEARNBOT_TRIAGE_CHANNEL": TRIAGE}), gitlab_timeout=2.0)
    app = RunningApp(services, SIGNING_SECRET).start()
    yield app, services
    app.stop()
    services.close()


def test_a_declined_request_is_never_checked_in_nor_rated(deciding, slack, gitlab):
    app, services = deciding
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    decided = services.decisions.decide(request.id, request.decision_version, Verb.DECLINE, user_id="U0ADMIN",
                                        text="No capacity this quarter", now=services.clock())
    assert decided.refused is None and not decided.errors
    launch = request.anchor_date
    services.reminders.close_request(request.id, user_id="U0REQ", now=end_of(launch + timedelta(days=1)))
    for days in (1, 31, 91, 100):
        services.dispatcher.run_once(now=end_of(launch + timedelta(days=days)))
    assert posted(slack, "learn.outcome:") == [] and posted(slack, "learn.rate:") == []
    assert checkins(services) == [] and ratings(services) == []


def test_a_live_session_held_ends_its_request_and_its_requester_rates_it(app, slack, gitlab, services):
    """The follow-up after the session says it was held: the requester is asked for a rating, once."""
    from tests.e2e.test_after_launch import follow_up_submission, milestone, reminders_of, session_raw

    file_request(app, gitlab, services, "live-learning", session_raw(services))
    day_after = end_of(milestone(services, "recording").due_on + timedelta(days=1))
    services.dispatcher.run_once(now=day_after)
    reminder_id = next(r.id for r in reminders_of(services, "recording") if r.recipient_id == "U0REQ")
    host_id = next(r.id for r in reminders_of(services, "recording") if r.recipient_id == "U0HOST")
    assert posted(slack, "learn.rate:") == []
    done = follow_up_submission(app, reminder_id, user="U0REQ", attendance="42",
                                recording="https://videos.example.com/coaching",
                                handbook="https://handbook.gitlab.com/handbook/people-group/learning/").json()
    assert done["response_action"] == "update"
    follow_up_submission(app, host_id, user="U0HOST", attendance="40")  # the co-host, late: said once
    wait_until(lambda: posted(slack, "learn.rate:"))
    services.dispatcher.run_once(now=day_after + timedelta(minutes=1))
    assert len(posted(slack, "learn.rate:")) == 1 and posted(slack, "learn.rate:", user="U0HOST") == []
    assert checkins(services) == []  # a live session makes nothing new: no outcome question


def test_check_ins_follow_a_moved_launch_and_only_the_requester_answers(app, slack, gitlab, services):
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    later = request.anchor_date + timedelta(days=14)
    services.reminders.replan(request.id, user_id="U0REQ", new_value=later, new_anchor=later, now=services.clock())
    assert [c.due_on for c in checkins(services)] == [later + timedelta(days=30), later + timedelta(days=90)]
    services.dispatcher.run_once(now=end_of(later + timedelta(days=30)))
    message = live_message(slack, "learn.outcome:")

    press(app, message, "learn.outcome:not_relevant", user="U0STRANGER")  # not theirs to answer
    said = slack.wait_for(lambda c: c.api_method == "chat.postEphemeral" and c.body.get("user") == "U0STRANGER")
    assert "Only the person who made this request" in json.dumps(said[-1].body)
    forged = {**message, "blocks": json.loads(json.dumps(message["blocks"]).replace(
        f'"value": "{checkins(services)[0].id}"', '"value": "999999"'))}
    press(app, forged, "learn.outcome:not_yet")  # a button whose check-in is gone
    said = slack.wait_for(lambda c: c.api_method == "chat.postEphemeral" and c.body.get("user") == "U0REQ")
    assert "no longer exists" in json.dumps(said[-1].body)
    assert all(c.answered_at is None for c in checkins(services))
