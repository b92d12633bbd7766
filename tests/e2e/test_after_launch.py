"""Care after launch over HTTP: the live-session follow-up and the evergreen review, with their buttons."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.container import Services, build_services
from bot.domain.after_launch import REVIEW_KEY, next_review
from bot.store.models import Milestone, Reminder, Request, RequestNote, RequestStatus
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import TEAM, RunningApp, wait_until
from tests.gitlab_rules import group_mentions
from tests.samples import RAW, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
LD_CHANNEL = "C0LANDD"




@pytest.fixture
def ld(env, db) -> Iterator[tuple[RunningApp, Services]]:
    """learnbot with an L&D channel (LEARNBOT_DIGEST_CHANNEL): where follow-ups and retire requests are told."""
    services = build_services(load_settings({**env, "LEARNBOT_DIGEST_CHANNEL": LD_CHANNEL}), gitlab_timeout=2.0)
    app = RunningApp(services, SIGNING_SECRET).start()
    yield app, services
    app.stop()
    services.close()


def weekday_ahead(services: Services, days: int) -> date:
    day = services.clock().date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def file_request(app, gitlab, services, key: str, raw: dict) -> Request:
    assert app.submit(key, slack_state(raw)).json()["response_action"] == "update"
    wait_until(lambda: gitlab.issues())
    return wait_until(lambda: _request(services) if _request(services).status is RequestStatus.OPEN else None)


def _request(services) -> Request:
    with services.db.session() as s:
        return s.scalars(select(Request)).one()


def milestone(services, key: str) -> Milestone:
    with services.db.session() as s:
        return s.scalars(select(Milestone).where(Milestone.key == key)).one()


def reminders_of(services, key: str) -> list[Reminder]:
    with services.db.session() as s:
        return list(s.scalars(select(Reminder).join(Milestone).where(Milestone.key == key)
                              .order_by(Reminder.recipient_id)))


def dms_with(slack, user: str, action_id: str) -> list[dict]:
    return [m for m in slack.messages(user)
            if any(e.get("action_id") == action_id for b in m.get("blocks") or [] for e in b.get("elements", []))]


def sent_for(slack, user: str, reminder_id: int) -> list[dict]:
    """DMs of one reminder (first and nudge), whatever they were turned into since."""
    return [m for m in slack.messages(user)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("reminder_id") == reminder_id]


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 0, tzinfo=UTC)


def follow_up_submission(app, reminder_id: int, *, user: str, attendance: str, recording: str = "",
                         handbook: str = "", notes: str = ""):
    values = {
        "attendance": {"value": {"type": "number_input", "value": attendance}},
        "recording_url": {"value": {"type": "plain_text_input", "value": recording}},
        "handbook_url": {"value": {"type": "plain_text_input", "value": handbook}},
        "notes": {"value": {"type": "plain_text_input", "value": notes}},
    }
    return app.interaction({
        "type": "view_submission", "team": TEAM, "api_app_id": "A0LEARN", "token": "legacy",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
        "trigger_id": "1.follow", "response_urls": [], "is_enterprise_install": False,
        "view": {"id": f"V0FOLLOW{reminder_id}{user}", "team_id": TEAM["id"], "type": "modal",
                 "callback_id": "learn.follow_up", "private_metadata": json.dumps({"reminder": reminder_id}),
                 "hash": "1.a", "title": {"type": "plain_text", "text": "Session follow-up"}, "blocks": [],
                 "state": {"values": values}, "app_id": "A0LEARN"},
    })


def session_raw(services: Services) -> dict:
    day = weekday_ahead(services, 30)
    starts = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)
    return {**RAW["live-learning"], "starts_at": str(int(starts.timestamp())), "hosts": ["U0REQ", "U0HOST"]}


# --- the live-session follow-up ------------------------------------------------------------------


def test_follow_up_day_after_the_session_notes_the_issue_ticks_the_step_and_tells_ld(ld, slack, gitlab):
    app, services = ld
    file_request(app, gitlab, services, "live-learning", session_raw(services))
    recording = milestone(services, "recording")
    first_pass = end_of(recording.due_on + timedelta(days=1))
    services.dispatcher.run_once(now=first_pass)
    services.dispatcher.run_once(now=first_pass)  # exactly once
    [dm] = dms_with(slack, "U0REQ", "learn.follow_up.open")
    assert len(dms_with(slack, "U0HOST", "learn.follow_up.open")) == 1  # every host
    reminder_id = next(r.id for r in reminders_of(services, "recording") if r.recipient_id == "U0REQ")

    # Only an owner may open it.
    app.block_action("learn.follow_up.open", value=str(reminder_id), user="U0STRANGER", message=dm)
    slack.wait_for(lambda c: c.api_method == "chat.postEphemeral" and c.body.get("user") == "U0STRANGER")
    assert not slack.calls_to("views.open")
    app.block_action("learn.follow_up.open", value=str(reminder_id), message=dm)
    form = slack.wait_for("views.open")[0].body["view"]
    assert form["callback_id"] == "learn.follow_up"
    assert {b["block_id"] for b in form["blocks"] if b["type"] == "input"} == {
        "attendance", "recording_url", "handbook_url", "notes"}

    # The session was recorded: a recording linked from outside the handbook is refused, in the form.
    bad = follow_up_submission(app, reminder_id, user="U0REQ", attendance="42",
                               recording="https://videos.example.com/coaching",
                               handbook="https://docs.google.com/document/d/1").json()
    assert bad["response_action"] == "errors" and "not in the handbook" in bad["errors"]["handbook_url"]
    missing = follow_up_submission(app, reminder_id, user="U0REQ", attendance="42").json()
    assert "recorded" in missing["errors"]["recording_url"]

    good = follow_up_submission(app, reminder_id, user="U0REQ", attendance="42",
                                recording="https://videos.example.com/coaching",
                                handbook="https://handbook.gitlab.com/handbook/people-group/learning/",
                                notes="/close\n<!channel> the mic was bad @all").json()
    assert good["response_action"] == "update" and good["view"]["title"]["text"] == "Thank you"
    again = follow_up_submission(app, reminder_id, user="U0HOST", attendance="40")  # the co-host, late
    assert again.json()["response_action"] == "update"

    assert milestone(services, "recording").done_by == "U0REQ"
    post = wait_until(lambda: [c for c in slack.calls_to("chat.postMessage") if c.body.get("channel") == LD_CHANNEL])
    assert "Attendance: *42*" in json.dumps(post[0].body["blocks"]) and "<!channel>" not in json.dumps(post[0].body)
    # The DM turns into what happened.
    wait_until(lambda: "Follow-up sent" in json.dumps(slack.messages("U0REQ")))

    services.dispatcher.run_once(now=first_pass + timedelta(minutes=1))
    issue = gitlab.issues()[0]
    notes = [n["body"] for n in gitlab.notes(issue["iid"]) if not n.get("system")]
    assert len(notes) == 1 and "Attendance: 42" in notes[0]
    assert "https://handbook.gitlab.com/handbook/people-group/learning/" in notes[0]
    assert not re.search(r"^/\w+", notes[0], re.MULTILINE) and not group_mentions(notes[0])
    assert re.search(r"- \[x\] \d{4}-\d{2}-\d{2} — Upload the recording", gitlab.issues()[0]["description"])
    # The co-host's nudge is stopped with the step.
    services.dispatcher.run_once(now=first_pass + timedelta(days=10))
    assert len(dms_with(slack, "U0HOST", "learn.follow_up.open")) == 1
    services.dispatcher.run_once(now=first_pass + timedelta(days=10, minutes=1))
    assert len([n for n in gitlab.notes(issue["iid"]) if not n.get("system")]) == 1


def test_no_follow_up_gets_one_nudge_then_shows_as_overdue(ld, slack, gitlab):
    app, services = ld
    file_request(app, gitlab, services, "live-learning", session_raw(services))
    recording = milestone(services, "recording")
    first_pass = end_of(recording.due_on + timedelta(days=1))
    services.dispatcher.run_once(now=first_pass)
    assert len(dms_with(slack, "U0REQ", "learn.follow_up.open")) == 1
    services.dispatcher.run_once(now=first_pass + timedelta(days=5))
    nudges = dms_with(slack, "U0REQ", "learn.follow_up.open")
    assert len(nudges) == 2 and "Still open" in nudges[1]["text"]
    assert nudges[1]["metadata"]["event_payload"] == {"reminder_id": nudges[0]["metadata"]["event_payload"][
        "reminder_id"], "nudge": 1}
    services.dispatcher.run_once(now=first_pass + timedelta(days=20))
    assert len(dms_with(slack, "U0REQ", "learn.follow_up.open")) == 2  # one nudge, no more
    overdue = services.overview.overdue(recording.due_on + timedelta(days=21))
    assert "Upload the recording and link it from the handbook" in [o.step for o in overdue.shown]


def test_follow_up_can_be_snoozed_and_stops_when_the_request_is_closed(ld, slack, gitlab):
    app, services = ld
    file_request(app, gitlab, services, "live-learning", session_raw(services))
    recording = milestone(services, "recording")
    first_pass = end_of(recording.due_on + timedelta(days=1))
    services.dispatcher.run_once(now=first_pass)
    [dm] = dms_with(slack, "U0HOST", "learn.follow_up.open")
    reminder_id = next(r.id for r in reminders_of(services, "recording") if r.recipient_id == "U0HOST")
    app.block_action("learn.reminder.snooze_week", value=str(reminder_id), user="U0HOST", message=dm)
    wait_until(lambda: [r for r in reminders_of(services, "recording") if r.recipient_id == "U0HOST"
                        and r.snoozed and r.sent_at is None])
    services.reminders.close_request(_request(services).id, user_id="U0REQ", now=first_pass)
    services.dispatcher.run_once(now=first_pass + timedelta(days=30))
    assert len(sent_for(slack, "U0HOST", reminder_id)) == 1
    assert all(r.cancelled_at is not None or r.sent_at is not None for r in reminders_of(services, "recording"))


# --- evergreen reviews ---------------------------------------------------------------------------


def pathway_raw(services: Services) -> dict:
    return {**RAW["new-pathway"], "launch_date": weekday_ahead(services, 40).isoformat()}


def test_review_outlives_an_issue_closed_after_launch_and_its_buttons_work(ld, slack, gitlab):
    app, services = ld
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    launch = request.anchor_date
    review = milestone(services, REVIEW_KEY)
    interval = services.catalog.model("new-pathway").review_after
    assert review.due_on == next_review(launch, interval)
    assert f"{review.due_on.isoformat()} — Evergreen review" in gitlab.issues()[0]["description"]

    # The issue is closed after the launch (the usual end of the work): the review stays, and shows in Home.
    services.reminders.close_request(request.id, user_id="U0REQ", now=end_of(launch + timedelta(days=1)))
    mine = services.overview.mine("U0REQ")
    assert mine.shown[0].next_step.startswith("Evergreen review")
    week = services.digest.build(since=end_of(review.due_on - timedelta(days=9)),
                                 now=end_of(review.due_on - timedelta(days=2)))
    [reviews] = [s for s in week.sections if s.key == "reviews"]
    assert [i.title for i in reviews.items] == [request.title]

    at = end_of(review.due_on + timedelta(days=1))
    services.dispatcher.run_once(now=at)
    [dm] = dms_with(slack, "U0REQ", "learn.review.accurate")
    [co_dm] = dms_with(slack, "U0COOWNER", "learn.review.accurate")
    assert "still accurate" in dm["text"]
    # A review of a closed (launched) request can be snoozed like any reminder.
    snoozed_id = next(r.id for r in reminders_of(services, REVIEW_KEY) if r.recipient_id == "U0REQ")
    app.block_action("learn.reminder.snooze_week", value=str(snoozed_id), message=dm)
    wait_until(lambda: [r for r in reminders_of(services, REVIEW_KEY) if r.id == snoozed_id and r.snoozed
                        and r.sent_at is None])
    mine_id = next(r.id for r in reminders_of(services, REVIEW_KEY) if r.recipient_id == "U0REQ")
    co_id = next(r.id for r in reminders_of(services, REVIEW_KEY) if r.recipient_id == "U0COOWNER")

    # Still accurate: the next review is the same interval from today, for every owner.
    app.block_action("learn.review.accurate", value=str(mine_id), message=dm)
    today = services.people.local_today("U0REQ", services.clock())
    expected = next_review(today, interval)
    wait_until(lambda: milestone(services, REVIEW_KEY).due_on == expected)
    assert all(r.sent_at is None and r.cancelled_at is None for r in reminders_of(services, REVIEW_KEY))
    wait_until(lambda: "Still accurate — next review" in json.dumps(slack.messages("U0REQ"), ensure_ascii=False))

    # Needs an update: a content review form opens with this click's trigger id, filled in from the pathway.
    app.block_action("learn.review.update", value=str(co_id), user="U0COOWNER", message=co_dm)
    form = slack.wait_for("views.open")[0].body
    assert form["trigger_id"].endswith(".act")
    fields = {b["block_id"]: b["element"].get("initial_value") for b in form["view"]["blocks"]
              if b["type"] == "input"}
    assert fields["title"] == f"Update: {request.title}"
    assert fields["handbook_urls"] == RAW["new-pathway"]["handbook_urls"]
    assert json.loads(form["view"]["private_metadata"]) == {"model": "content-review"}

    # Retire: the review stops, the issue gets a note and a label, L&D is told.
    app.block_action("learn.review.retire", value=str(co_id), user="U0COOWNER", message=co_dm)
    wait_until(lambda: milestone(services, REVIEW_KEY).done_at is not None)
    post = wait_until(lambda: [c for c in slack.calls_to("chat.postMessage") if c.body.get("channel") == LD_CHANNEL])
    assert "retire" in post[0].body["text"].lower()
    services.dispatcher.run_once(now=at + timedelta(minutes=1))
    issue = gitlab.issues()[0]
    bodies = [n["body"] for n in gitlab.notes(issue["iid"]) if not n.get("system")]
    assert any("still accurate" in b for b in bodies) and any("Retire this content" in b for b in bodies)
    assert "evergreen::retire" in issue["labels"]
    assert all(r.cancelled_at is not None or r.sent_at is not None for r in reminders_of(services, REVIEW_KEY))
    with services.db.session() as s:
        assert all(n.posted_at is not None for n in s.scalars(select(RequestNote)))

    # learnbot's own notes ("still accurate", "retire") come back as Note Hooks: the owners were told in
    # Slack already, so none of them is relayed as a "Comment from Learnbot"; a person's comment is.
    for i, body in enumerate(bodies):
        payload = hooks.note_event(issue, body, user="learnbot")
        head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key=f"own-{i}")
        assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), timeout=10,
                                headers=head).status_code == 200
    payload = hooks.note_event(issue, "Thanks for keeping this fresh", user="reviewer")
    app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), timeout=10,
                     headers=hooks.headers(hooks.event_header(payload), token="hook-secret"))
    wait_until(lambda: [m for m in slack.messages("U0REQ") if "Thanks for keeping this fresh" in m["text"]])
    services.dispatcher.run_once(now=at + timedelta(minutes=2))
    assert [m["text"] for m in slack.messages("U0REQ") if "Comment from" in m["text"]
            and "Thanks for keeping" not in m["text"]] == []


def test_a_stranger_cannot_retire(ld, slack, gitlab):
    app, services = ld
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    review = milestone(services, REVIEW_KEY)
    services.reminders.close_request(request.id, user_id="U0REQ", now=end_of(request.anchor_date))
    services.dispatcher.run_once(now=end_of(review.due_on + timedelta(days=1)))
    [dm] = dms_with(slack, "U0REQ", "learn.review.retire")
    rid = next(r.id for r in reminders_of(services, REVIEW_KEY) if r.recipient_id == "U0REQ")
    app.block_action("learn.review.retire", value=str(rid), user="U0STRANGER", message=dm)
    slack.wait_for(lambda c: c.api_method == "chat.postEphemeral" and c.body.get("user") == "U0STRANGER")
    assert milestone(services, REVIEW_KEY).done_at is None


def test_closing_before_launch_stops_the_review(ld, slack, gitlab):
    app, services = ld
    request = file_request(app, gitlab, services, "new-pathway", pathway_raw(services))
    review = milestone(services, REVIEW_KEY)
    services.reminders.close_request(request.id, user_id="U0REQ", now=services.clock())
    services.dispatcher.run_once(now=end_of(review.due_on + timedelta(days=1)))
    assert dms_with(slack, "U0REQ", "learn.review.accurate") == []
    assert services.overview.mine("U0REQ").total == 0


def test_lxp_contribution_gets_its_review_when_published(ld, slack, gitlab):
    """An upload has no plan: its issue closed in GitLab (published) plans the first review (GitLab webhook)."""
    app, services = ld
    request = file_request(app, gitlab, services, "upload", RAW["upload"])
    payload = hooks.issue_event(gitlab.close_issue(request.gitlab_iid), action="close")
    resp = app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), timeout=10,
                            headers=hooks.headers(hooks.event_header(payload), token="hook-secret"))
    assert resp.status_code == 200
    review = wait_until(lambda: _review_or_none(services))
    interval = services.catalog.model("upload").review_after
    assert review.due_on == next_review(services.clock().date(), interval)
    services.dispatcher.run_once(now=end_of(review.due_on + timedelta(days=1)))
    assert len(dms_with(slack, "U0REQ", "learn.review.accurate")) == 1


def _review_or_none(services) -> Milestone | None:
    with services.db.session() as s:
        return s.scalars(select(Milestone).where(Milestone.key == REVIEW_KEY)).first()
