"""Answers never wait behind GitLab or Slack's Web API: proven by holding them, not by racing a clock.

Each test holds the outside world (the stand-in GitLab or Slack takes the call and does not answer
until the test lets it go), collects every answer from learnbot while it is held, and only then
releases it. An answer that waited for GitLab could not arrive at all while GitLab is held, so the
proof holds on a loaded machine, where a "< 3 s" stopwatch would fail for reasons of its own.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlalchemy import select

from bot.config import load_settings
from bot.container import Services, build_services
from bot.messages.ids import Action
from bot.slack.app import create_bolt_app
from bot.store.models import Reminder, Request, RequestStatus, WebhookDelivery
from bot.web import create_web_app
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import RunningApp, serve_process, sign, wait_until
from tests.samples import SampleDates, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
CREATE = ("POST", r"/issues$")
# How long a held world waits for learnbot to reach it: generous for a loaded machine, and never
# what a test asserts (a test asserts what arrived while the world was held).
PATIENCE = 30.0


def pathway() -> dict[str, Any]:
    # The samples' dates moved ahead of the app's clock (same weekdays): valid on any day.
    return slack_state(SampleDates.after(Services.clock()).raw("new-pathway"))




def at_once(n: int, send) -> list[tuple[float, Any]]:
    """n requests sent together from n threads; each one's (seconds to answer, response or exception)."""
    results: list[tuple[float, Any]] = [(0.0, None)] * n
    ready = threading.Barrier(n)

    def one(i: int) -> None:
        ready.wait()
        started = time.monotonic()
        try:
            out: Any = send(i)
        except Exception as exc:  # a timeout or a reset is a failure to answer, reported below
            out = exc
        results[i] = (time.monotonic() - started, out)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_all_answered(results, ok=lambda resp: True) -> None:
    for _took, resp in results:
        assert not isinstance(resp, Exception), f"no answer: {resp!r}"
        assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:200]}"
        assert ok(resp), resp.text[:300]


def markers(db) -> list[str]:
    with db.session() as s:
        return [r.marker for r in s.scalars(select(Request))]


@pytest.fixture
def patient(env, db):
    """Services as `learnbot serve` builds them: GitLab's default 30 s read timeout (8 s creates succeed)."""
    built = build_services(load_settings(env))
    yield built
    built.close()


@pytest.fixture
def patient_app(patient):
    running = RunningApp(patient, SIGNING_SECRET).start()
    yield running
    running.stop()


def test_16_submissions_at_once_are_all_answered_while_gitlab_is_held_and_each_is_filed_once(env, gitlab, slack, db):
    proc, base = serve_process(["--threads", "8"], env)  # waitress, as in production
    try:
        clients = [RunningApp(None, SIGNING_SECRET, url=base) for _ in range(16)]  # type: ignore[arg-type]
        assert clients[0].command("help").status_code == 200  # the server is warm, as Slack would find it
        states = [pathway() for _ in range(16)]
        with gitlab.hold(CREATE) as creating:
            results = at_once(16, lambda i: clients[i].submit("new-pathway", states[i]))
            # Every answer is in, and GitLab has not answered one create: no answer waited for it.
            assert_all_answered(results, ok=lambda r: r.json().get("response_action") == "update")
            assert gitlab.issues() == [] and not creating.released
            creating.wait_for(1, timeout=PATIENCE)  # and the filing did start, after the answers
        wait_until(lambda: len(gitlab.issues()) >= 16, timeout=PATIENCE, what="16 issues")
        wait_until(lambda: len([c for c in slack.calls_to("chat.postMessage") if "filed as" in c.body.get("text", "")])
                   >= 16, timeout=PATIENCE, what="16 confirmations")
        found = [i["description"] for i in gitlab.issues()]
        assert sorted(sum(m in d for d in found) for m in markers(db)) == [1] * 16  # exactly one issue each
        assert len(gitlab.calls_matching(CREATE)) == 16  # and no create was repeated
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_burst_of_commands_opens_every_modal_at_once_not_one_after_another(app, slack):
    # Slack holds every views.open (and every time-zone look-up): if the modals were opened one after
    # another, or after the look-ups, the second views.open could not arrive while the first is held.
    with slack.hold("views.open") as opening, slack.hold("users.info"):
        results = at_once(16, lambda i: app.command("new-pathway"))
        assert_all_answered(results, ok=lambda r: "too much to do" not in r.text)
        opening.wait_for(16, timeout=PATIENCE)
        assert opening.waiting == 16  # all in flight together, none answered yet
    opened = slack.wait_for("views.open", count=16, timeout=PATIENCE)
    assert all(c.status == 200 for c in opened)
    assert len({c.body["trigger_id"] for c in opened}) == 16


def test_a_trigger_that_dies_on_the_way_is_reported_not_lost(app, slack):
    slack.fail_next("views.open", body={"ok": False, "error": "expired_trigger_id"})
    assert app.command("new-pathway").status_code == 200
    note = wait_until(lambda: slack.calls_to("chat.postEphemeral"), what="an ephemeral")[0]
    assert note.body["user"] == "U0REQ" and note.body["channel"] == "C0GENERAL"
    assert "too long to open the form" in note.body["text"] and "/learn new-pathway" in note.body["text"]


def reminder_dm(patient_app, patient, slack, gitlab) -> tuple[dict, int]:
    """A filed pathway, and its first reminder delivered to U0REQ (its DM, its reminder id)."""
    patient_app.submit("new-pathway", pathway())
    wait_until(lambda: gitlab.issues(), what="the issue")
    with patient.db.session() as s:
        first = s.scalars(select(Reminder).where(Reminder.recipient_id == "U0REQ", Reminder.cancelled_at.is_(None))
                          .order_by(Reminder.due_at)).first()
        reminder_id, step_day = first.id, first.milestone.due_on
    wait_until(lambda: any("filed as" in m["text"] for m in slack.messages("U0REQ")), what="the confirmation")
    # Two days after its step's date: past 09:00 on that day in any time zone (a holiday only moves it earlier).
    patient.dispatcher.run_once(now=datetime.combine(step_day + timedelta(days=2), datetime.min.time(), tzinfo=UTC))
    dm = wait_until(lambda: [m for m in slack.messages("U0REQ")
                             if (m.get("metadata") or {}).get("event_type") == "learnbot_reminder"],
                    what="the reminder")[0]
    return dm, reminder_id


def open_home(app, user):
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
             "event_ts": f"{time.time():.6f}"}
    body = {"token": "legacy", "team_id": "T0LEARN01", "api_app_id": "A0LEARN", "event": event,
            "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time())}
    return app.post_signed(json.dumps(body), headers={"Content-Type": "application/json"})


def test_buttons_and_the_home_tab_are_answered_and_redrawn_while_gitlab_is_held(patient_app, patient, slack, gitlab):
    dm, reminder_id = reminder_dm(patient_app, patient, slack, gitlab)
    with gitlab.hold(lambda c: True) as held:
        # More filings than the background lane has threads: all of them now wait on GitLab.
        for _ in range(20):
            assert_all_answered([(0.0, patient_app.submit("new-pathway", pathway()))])
        held.wait_for(16, timeout=PATIENCE)

        resp = patient_app.block_action(Action.REMINDER_SNOOZE_DAY.value, value=str(reminder_id), message=dm)
        assert resp.status_code == 200
        [update] = slack.wait_for("chat.update", timeout=PATIENCE)  # redrawn while GitLab still answers nothing
        assert "Snoozed by <@U0REQ>" in json.dumps(update.body.get("blocks"))

        assert open_home(patient_app, "U0REQ").status_code == 200
        slack.wait_for(lambda c: c.api_method == "views.publish" and c.body.get("user_id") == "U0REQ",
                       timeout=PATIENCE)

        with patient.db.session() as s:
            request_id = s.scalars(select(Request.id).order_by(Request.id)).first()
        resp = patient_app.block_action(Action.REQUEST_CLOSE.value, value=str(request_id), message=dm)
        assert resp.status_code == 200
        with patient.db.session() as s:
            assert s.get(Request, request_id).status is RequestStatus.CLOSED  # recorded before the answer
        assert not held.released and held.waiting >= 16  # all of it while GitLab was held


def test_the_webhook_is_answered_while_slack_is_held(patient_app, patient, slack, gitlab):
    for _ in range(4):
        patient_app.submit("content-review", slack_state(SampleDates.after(Services.clock()).raw("content-review")))
    wait_until(lambda: len(gitlab.issues()) == 4, what="4 issues")
    wait_until(lambda: len([m for m in slack.messages("U0REQ") if "filed as" in m["text"]]) == 4, what="4 DMs")
    issues = gitlab.issues()
    with slack.hold("chat.postMessage") as dms:  # every DM about a change waits for the test
        for issue in issues:
            event = hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close")
            resp = patient_app.session.post(f"{patient_app.url}/gitlab/webhook", data=json.dumps(event), timeout=10,
                                            headers=hooks.headers("Issue Hook", token="hook-secret"))
            assert resp.status_code == 200 and resp.json()["status"] == "accepted"
        dms.wait_for(1, timeout=PATIENCE)  # acted on after the answers, and its DM is held
        assert not [c for c in slack.calls_to("chat.postMessage") if c.done and "changed in GitLab" in
                    c.body.get("text", "")]

    def all_processed():
        with patient.db.session() as s:
            return len(list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.processed_at.is_not(None))))) == 4

    wait_until(all_processed, timeout=PATIENCE, what="4 deliveries acted on")
    wait_until(lambda: len([c for c in slack.calls_to("chat.postMessage") if c.done and "changed in GitLab" in
                            c.body.get("text", "")]) == 4, timeout=PATIENCE, what="4 DMs")


# --- after-answer work waits while an answer is being worked out --------------------------------


def _probe_app(services: Services, hold: threading.Event, log: list[str]):
    """learnbot's own Bolt app with one more listener, which queues background work, then holds its answer."""
    bolt = create_bolt_app(services)

    def probe(ack) -> None:
        services.after_answer.submit("probe", lambda: log.append("background ran"))
        while services.after_answer.depth() > 0:  # a lane thread has taken it: it would run now if let
            time.sleep(0.005)
        hold_until = time.monotonic() + 0.3
        while time.monotonic() < hold_until or not hold.is_set():
            time.sleep(0.005)
        log.append("answered")
        ack()

    bolt.command("/probe")(probe)
    return bolt


def _probe_command() -> dict[str, str]:
    return {"token": "t", "team_id": "T0LEARN", "user_id": "U0REQ", "command": "/probe", "text": "",
            "channel_id": "C0GENERAL", "trigger_id": "1.probe", "response_url": "https://hooks.slack.com/x"}


@pytest.mark.parametrize("way_in", ["http", "socket_mode"])
def test_background_work_waits_until_the_answer_in_flight_is_out(services, way_in):
    from urllib.parse import urlencode

    hold, log = threading.Event(), []
    bolt = _probe_app(services, hold, log)
    if way_in == "http":
        client = create_web_app(services, bolt).test_client()
        body = urlencode(_probe_command())
        ts = str(int(time.time()))
        send = lambda: client.post("/slack/events", data=body, headers={  # noqa: E731
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, body)}).status_code
    else:  # as Bolt's Socket Mode adapter hands an envelope to the app
        send = lambda: run_bolt_app(bolt, SocketModeRequest(  # noqa: E731
            type="slash_commands", envelope_id="e1", payload=_probe_command())).status
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(send()))
    thread.start()
    hold.set()  # the listener answers once it has held a moment with its work taken by a lane thread
    thread.join(timeout=PATIENCE)
    wait_until(lambda: "background ran" in log, timeout=PATIENCE, what="the background work")
    assert answers == [200]
    assert log == ["answered", "background ran"]  # it waited for the answer, though a thread had it in hand
