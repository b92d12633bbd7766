"""Calendar invites for live sessions over HTTP (§17): each host's .ics in their DM, moved, cancelled, sent once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import select

from bot.store.invites import CalendarInvite
from bot.store.models import Request, RequestStatus
from tests.e2e.harness import wait_until
from tests.e2e.test_reminders import _submission, button, confirmation
from tests.samples import SESSION, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
HOSTS = ["U0HOST", "U0COHOST"]
HOSTILE = "Git; tips, tricks \\n END:VEVENT <!channel> & co"  # a form title is one line (newlines: unit tests)


def file_session(app, slack, gitlab, services, dates, **changes) -> Request:
    answer = app.submit("live-learning", slack_state(dates.raw("live-learning", **changes))).json()
    assert answer["response_action"] == "update", answer
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: _request(services).status is RequestStatus.OPEN)
    wait_until(lambda: any(button(m, "learn.request.close") for m in slack.messages("U0REQ")))
    return _request(services)


def uid_host(services) -> str:
    return urlsplit(services.settings.gitlab_url).hostname  # the deployment's GitLab host


def _request(services) -> Request:
    with services.db.session() as s:
        return s.scalars(select(Request)).one()


def invites_to(slack, user: str) -> list[tuple[dict, Calendar]]:
    return [(f, Calendar.from_ical(f["content"])) for f in slack.uploaded_files(user) if f["name"].endswith(".ics")]


def event(cal: Calendar):
    [e] = cal.walk("VEVENT")
    return e


def run(services, at: datetime | None = None):
    return services.dispatcher.run_once(now=at or services.clock())


def test_each_host_gets_one_invite_with_the_session_in_it(app, slack, gitlab, services, dates):
    request = file_session(app, slack, gitlab, services, dates, title=HOSTILE, duration="50", hosts=HOSTS)
    run(services)
    run(services)  # a second pass sends nothing again
    starts = dates.moment(SESSION)
    for host in HOSTS:
        [(file, cal)] = invites_to(slack, host)
        e = event(cal)
        assert str(cal["METHOD"]) == "REQUEST" and str(cal["X-WR-TIMEZONE"]) == "America/New_York"
        assert str(e["UID"]) == f"learnbot-request-{request.id}@{uid_host(services)}" and int(e["SEQUENCE"]) == 0
        assert e.decoded("DTSTART") == starts and e.decoded("DTEND") == starts + timedelta(minutes=50)
        assert str(e["SUMMARY"]) == HOSTILE  # escaped in the file, read back as typed
        assert request.gitlab_url and request.gitlab_url in str(e["DESCRIPTION"])
        assert [a.params["CN"] for a in e["ATTENDEE"]] == ["Grace Hopper", "Linus"]
        assert e["ORGANIZER"].params["CN"] == "Ada Lovelace"
        # The DM that carries it names the session, escaped for Slack.
        [dm] = [m for m in slack.messages(host) if m.get("files")]
        assert [f["id"] for f in dm["files"]] == [file["id"]]
        assert "<!channel>" not in dm["text"] and "&lt;!channel&gt;" in dm["text"]
    assert invites_to(slack, "U0REQ") == []  # the requester is not a host here


def test_a_moved_date_updates_and_a_close_cancels_the_same_uid(app, slack, gitlab, services, dates):
    request = file_session(app, slack, gitlab, services, dates, hosts=["U0REQ", "U0HOST"])
    run(services)
    moved = dates.moment(SESSION) + timedelta(days=7)
    message = confirmation(slack)
    app.block_action("learn.request.change_date", value=button(message, "learn.request.change_date")["value"],
                     message=message)
    form = slack.wait_for("views.open")[0].body["view"]
    view = {"id": "V0REPLAN", "callback_id": "learn.change_date", "private_metadata": form["private_metadata"],
            "state": {"values": {"anchor": {"value": {"type": "datetimepicker",
                                                      "selected_date_time": int(moved.timestamp())}}}}}
    assert app.interaction(_submission(view)).json()["response_action"] == "update"
    run(services)
    first, update = invites_to(slack, "U0HOST")
    uid = f"learnbot-request-{request.id}@{uid_host(services)}"
    assert str(event(update[1])["UID"]) == str(event(first[1])["UID"]) == uid
    assert int(event(update[1])["SEQUENCE"]) == 1 and str(update[1]["METHOD"]) == "REQUEST"
    assert event(update[1]).decoded("DTSTART") == moved.astimezone(UTC)

    app.block_action("learn.request.close", value=button(confirmation(slack), "learn.request.close")["value"],
                     message=confirmation(slack))
    wait_until(lambda: _request(services).status is RequestStatus.CLOSED)
    run(services)
    run(services)
    for host in ("U0REQ", "U0HOST"):
        *_, (_, cancel) = invites_to(slack, host)
        assert len(invites_to(slack, host)) == 3
        assert str(cancel["METHOD"]) == "CANCEL" and str(event(cancel)["STATUS"]) == "CANCELLED"
        assert int(event(cancel)["SEQUENCE"]) == 2 and str(event(cancel)["UID"]) == uid


def test_a_session_declined_in_gitlab_is_cancelled(app, slack, gitlab, services, dates):
    file_session(app, slack, gitlab, services, dates, hosts=HOSTS)
    run(services)
    issue = gitlab.issues()[0]
    changed = gitlab.update_issue(issue["iid"], add_labels="ld-status::declined")
    payload = hooks.issue_event(changed, action="update",
                                changes=hooks.labels_change(issue["labels"], changed["labels"]))
    head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key="decline-1")
    assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                            timeout=10).status_code == 200
    wait_until(lambda: _request(services).decision_state == "declined")
    run(services)
    run(services)
    for host in HOSTS:
        [(_, first), (_, cancel)] = invites_to(slack, host)
        assert str(cancel["METHOD"]) == "CANCEL" and int(event(cancel)["SEQUENCE"]) == 1
        assert str(event(cancel)["UID"]) == str(event(first)["UID"])


def test_a_failed_upload_is_retried_without_uploading_twice(app, slack, gitlab, services, dates):
    file_session(app, slack, gitlab, services, dates, hosts=HOSTS)
    to_cohost = slack.dm_channel("U0COHOST")
    slack.fail_next(lambda c: c.api_method == "files.completeUploadExternal"
                    and c.body.get("channel_id") == to_cohost, status=500)
    now = services.clock()
    run(services, now)
    assert len(invites_to(slack, "U0HOST")) == 1 and invites_to(slack, "U0COHOST") == []
    run(services, now + timedelta(minutes=5))  # after the backoff
    run(services, now + timedelta(hours=2))
    assert len(invites_to(slack, "U0HOST")) == 1 and len(invites_to(slack, "U0COHOST")) == 1
    with services.db.session() as s:
        rows = list(s.scalars(select(CalendarInvite)))
    assert sorted((r.recipient_id, r.sequence) for r in rows) == [("U0COHOST", 0), ("U0HOST", 0)]
    assert all(r.sent_at is not None and r.file_id for r in rows)


def test_a_lost_answer_is_found_in_the_dm_and_not_uploaded_again(app, slack, gitlab, services, dates):
    file_session(app, slack, gitlab, services, dates, hosts=HOSTS)
    to_cohost = slack.dm_channel("U0COHOST")
    slack.fail_next(lambda c: c.api_method == "files.completeUploadExternal"
                    and c.body.get("channel_id") == to_cohost, status=500, after_effect=True)  # shared, then 500
    now = services.clock()
    run(services, now)
    [(shared, _)] = invites_to(slack, "U0COHOST")
    run(services, now + timedelta(hours=2))
    assert len(invites_to(slack, "U0COHOST")) == 1 and len(invites_to(slack, "U0HOST")) == 1
    assert len(slack.calls_to("files.getUploadURLExternal")) == 2  # one per host, none retried
    with services.db.session() as s:
        row = s.scalars(select(CalendarInvite).where(CalendarInvite.recipient_id == "U0COHOST")).one()
    assert row.sent_at is not None and row.file_id == shared["id"]


def test_other_models_send_no_invite(app, slack, gitlab, services, dates):
    app.submit("new-pathway", slack_state(dates.raw("new-pathway")))
    wait_until(lambda: gitlab.issues())
    run(services)
    assert [f for f in slack.uploaded_files() if f["name"].endswith(".ics")] == []
