"""One scrape sees the whole system: gauges read from the database, the worker's heartbeat, answer
latency and Slack/GitLab calls (issue 12). Each test moves a metric and reads it back over HTTP."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from bot.container import Services
from bot.observability import read_backlog
from bot.store.models import RequestStatus
from tests.e2e.test_intake import wait_until
from tests.ops.helpers import (
    add_delivery,
    add_job,
    add_notice,
    add_reminder,
    add_request,
    scrape,
    value,
)
from tests.samples import SampleDates, slack_state


def metrics(app):
    resp = app.session.get(f"{app.url}/metrics")
    assert resp.status_code == 200
    return resp, scrape(resp.text)


def test_metrics_content_type_is_prometheus_text_with_one_of_each_parameter(app):
    resp, _ = metrics(app)
    ctype = resp.headers["Content-Type"]
    assert ctype.startswith("text/plain; version=0.0.4")
    params = [p.split("=")[0].strip() for p in ctype.split(";")[1:]]
    assert len(params) == len(set(params)), ctype


def test_empty_database_shows_zero_backlog_and_no_heartbeat(app):
    _, m = metrics(app)
    assert value(m, "learnbot_database_up") == 1
    for name in ("learnbot_requests_waiting_to_file", "learnbot_requests_failed", "learnbot_jobs_due",
                 "learnbot_oldest_due_job_age_seconds", "learnbot_reminders_due", "learnbot_notices_pending",
                 "learnbot_notices_failed", "learnbot_webhook_deliveries_pending"):
        assert (name, ()) in m and m[(name, ())] == 0, name
    assert ("learnbot_last_dispatch_timestamp_seconds", ()) not in m


def test_database_gauges_move_with_the_rows(app, services):
    now = services.clock()
    hour = timedelta(hours=1)
    with services.db.session() as s:
        filing = add_request(s, status=RequestStatus.FILING, created=now - 2 * hour)
        add_request(s, status=RequestStatus.FAILED, created=now - 3 * hour)
        add_request(s, status=RequestStatus.FAILED, created=now - 3 * hour)
        add_job(s, filing, due=now - 2 * hour)  # due two hours ago, not finished
        later = add_request(s, created=now - hour, milestone_due=(now - hour).date())
        add_job(s, later, due=now + hour)  # not due yet: not counted
        add_reminder(s, later, due=now - 3 * hour)
        add_reminder(s, later, due=now - hour, recipient="U0HOST")
        add_reminder(s, later, due=now - 5 * hour, recipient="U0SENT", sent=now - 4 * hour)
        add_notice(s, later, key="n1", due=now - 30 * timedelta(minutes=1))
        add_notice(s, later, key="n2", due=now - hour, failed=now - hour)
        add_delivery(s, key="d1", received=now - 10 * timedelta(minutes=1))
        add_delivery(s, key="d2", received=now - hour, processed=now - hour)
    _, m = metrics(app)
    assert value(m, "learnbot_requests_waiting_to_file") == 1
    assert value(m, "learnbot_requests_failed") == 2
    assert value(m, "learnbot_jobs_due") == 1
    assert 2 * 3600 <= value(m, "learnbot_oldest_due_job_age_seconds") < 2 * 3600 + 120
    assert value(m, "learnbot_reminders_due") == 2
    assert 3 * 3600 <= value(m, "learnbot_oldest_due_reminder_age_seconds") < 3 * 3600 + 120
    assert value(m, "learnbot_notices_pending") == 1 and value(m, "learnbot_notices_failed") == 1
    assert 1800 <= value(m, "learnbot_oldest_pending_notice_age_seconds") < 1800 + 120
    assert value(m, "learnbot_webhook_deliveries_pending") == 1
    assert 600 <= value(m, "learnbot_oldest_webhook_delivery_age_seconds") < 600 + 120


def test_the_worker_heartbeat_shows_from_the_web_process(app, services):
    from bot.observability import record_heartbeat

    before = services.clock()
    services.dispatcher.run_once(now=before)
    _, m = metrics(app)
    beat = value(m, "learnbot_last_dispatch_timestamp_seconds")
    assert before.timestamp() <= beat <= services.clock().timestamp()
    # An older beat (a slow worker finishing late) never moves the heartbeat back.
    record_heartbeat(services.db, now=before - timedelta(minutes=1))
    _, m = metrics(app)
    assert value(m, "learnbot_last_dispatch_timestamp_seconds") == beat


def test_gauges_are_bounded_queries(services):
    """read_backlog runs a fixed number of statements, however many rows there are."""
    from sqlalchemy import event

    now = services.clock()
    statements: list[str] = []
    with services.db.session() as s:
        for i in range(30):
            add_request(s, status=RequestStatus.FILING, created=now, title=f"r{i}")
    event.listen(services.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with services.db.session() as s:
        backlog = read_backlog(s, now=now)
    assert backlog.requests_filing == 30
    selects = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 9  # one per gauge family, whatever the row count
    assert all("LIMIT" in q.upper() or "count(" in q.lower() or "min(" in q.lower() or "heartbeats" in q
               for q in selects)


def test_database_down_shows_as_database_up_zero(app, services, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def broken():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(services.db, "session", broken)
    _, m = metrics(app)
    assert value(m, "learnbot_database_up") == 0
    assert ("learnbot_requests_failed", ()) not in m


def test_answers_slack_and_gitlab_calls_are_counted_and_timed(app, gitlab):
    _, before = metrics(app)
    app.command("help")
    app.submit("content-review", slack_state(SampleDates.after(Services.clock()).raw("content-review")))
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: value(metrics(app)[1], "learnbot_slack_calls_total", method="chat.postMessage", outcome="ok")
               > value(before, "learnbot_slack_calls_total", method="chat.postMessage", outcome="ok"))
    _, m = metrics(app)

    def moved(name, **labels):
        return value(m, name, **labels) - value(before, name, **labels)

    assert moved("learnbot_slack_answer_seconds_count", kind="command") == 1
    assert moved("learnbot_slack_answer_seconds_count", kind="view_submission") == 1
    assert moved("learnbot_gitlab_calls_total", method="create_issue", outcome="ok") == 1
    assert moved("learnbot_gitlab_call_seconds_count", method="create_issue") == 1
    assert moved("learnbot_slack_call_seconds_count", method="chat.postMessage") >= 1


def test_failed_gitlab_and_slack_calls_count_as_errors(app, gitlab, slack, services):
    _, before = metrics(app)
    gitlab.fail_next(("POST", r"/issues$"), status=503)
    app.submit("content-review", slack_state(SampleDates.after(Services.clock()).raw("content-review")))

    def errors(m, system, method):
        return value(m, f"learnbot_{system}_calls_total", method=method, outcome="error")

    wait_until(lambda: errors(metrics(app)[1], "gitlab", "create_issue") > errors(before, "gitlab", "create_issue"))
    slack.fail_next(lambda c: c.api_method == "chat.postMessage", body={"ok": False, "error": "channel_not_found"})
    with contextlib.suppress(Exception):  # the error itself is the gateway's caller's business
        services.slack.post_message("C0GONE", "hello")
    _, m = metrics(app)
    assert errors(m, "slack", "chat.postMessage") == errors(before, "slack", "chat.postMessage") + 1


# --- liveness and readiness ----------------------------------------------------------------------

def test_readyz_is_ready_on_a_current_database(app):
    resp = app.session.get(f"{app.url}/readyz")
    assert resp.status_code == 200 and resp.json() == {"status": "ready"}


def test_readyz_answers_503_with_the_reason_when_migrations_are_behind(app, services, tmp_path, monkeypatch):
    from bot.store.db import Database
    from bot.store.migrate import upgrade

    url = f"sqlite:///{tmp_path}/behind.db"
    upgrade(url, "0005")  # one schema before this code's
    behind = Database(url)
    monkeypatch.setattr(services, "db", behind)
    resp = app.session.get(f"{app.url}/readyz")
    assert resp.status_code == 503
    assert "0005" in resp.json()["reason"] and "learnbot migrate" in resp.json()["reason"]
    # Liveness stays cheap and up: the process itself is fine.
    assert app.session.get(f"{app.url}/healthz").status_code == 200
    behind.dispose()


def test_readyz_answers_503_when_the_database_is_unreachable(app, services, monkeypatch):
    from bot.store.db import Database

    gone = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(services, "db", gone)
    resp = app.session.get(f"{app.url}/readyz")
    assert resp.status_code == 503 and "database unreachable" in resp.json()["reason"]
    gone.dispose()


@pytest.mark.parametrize("content_type,body,kind", [
    ("application/x-www-form-urlencoded", b"token=x&team_id=T1&command=%2Flearn&text=help", "command"),
    ("application/json", b'{"type":"event_callback","event":{"type":"app_home_opened"}}', "event"),
    ("application/x-www-form-urlencoded",
     b"payload=%7B%22type%22%3A%22view_submission%22%2C%22team%22%3A%7B%7D%7D", "view_submission"),
    ("application/x-www-form-urlencoded", b"payload=%7B%22type%22%3A+%22block_actions%22%7D", "block_actions"),
    ("application/x-www-form-urlencoded", b"payload=%7B%22type%22%3A%22something_new%22%7D", "interactive"),
    ("text/plain", b"hello", "other"),
])
def test_answer_kind_labels_without_parsing(content_type, body, kind):
    from bot.ops.routes import answer_kind

    assert answer_kind(content_type, body) == kind


def test_requests_waiting_for_a_decision_and_the_oldest_age(app, services):
    now = services.clock()
    hour = timedelta(hours=1)
    with services.db.session() as s:
        add_request(s, created=now - 5 * hour).decision_state = "new"
        add_request(s, created=now - 2 * hour).decision_state = "needs-info"
        add_request(s, created=now - 9 * hour).decision_state = "accepted"  # decided: not waiting
        add_request(s, created=now - 8 * hour).decision_state = "waitlisted"  # decided to wait
        add_request(s, status=RequestStatus.CLOSED, created=now - 7 * hour).decision_state = "new"  # closed
    _, m = metrics(app)
    assert value(m, "learnbot_requests_waiting_for_decision") == 2
    age = value(m, "learnbot_oldest_undecided_request_age_seconds")
    assert 5 * 3600 - 120 <= age <= 5 * 3600 + 120
