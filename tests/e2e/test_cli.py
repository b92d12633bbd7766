"""The `learnbot` command as an operator runs it: real processes, the waitress server, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests

from tests.e2e.harness import RunningApp, child_env, serve_process, sign
from tests.samples import slack_state

pytestmark = pytest.mark.e2e


def run(args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", "bot", *args], env=child_env(env), capture_output=True, text=True,
                          timeout=timeout, cwd=os.path.dirname(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_lists_the_commands():
    out = run(["--help"], {})
    assert out.returncode == 0
    for command in ("migrate", "serve", "worker", "dispatch", "check"):
        assert command in out.stdout


def test_bad_setting_fails_at_start_naming_it(env):
    out = run(["check"], {**env, "LEARNBOT_TIMEZONE": "Moon/Base"})
    assert out.returncode == 2
    assert "LEARNBOT_TIMEZONE is not an IANA time zone" in out.stderr


def test_broken_catalogue_fails_at_start(env, tmp_path):
    bad = tmp_path / "catalog.yml"
    bad.write_text("version: 1\nmodels: []\n")
    out = run(["check"], {**env, "LEARNBOT_CATALOG": str(bad)})
    assert out.returncode == 2 and "catalogue" in out.stderr and "models" in out.stderr


def test_serve_refuses_an_unmigrated_database(env, tmp_path):
    out = run(["serve", "--port", "0"], {**env, "DATABASE_URL": f"sqlite:///{tmp_path}/new.db"})
    assert out.returncode == 2 and "run `learnbot migrate`" in out.stderr


def test_missing_secrets_are_named(env):
    out = run(["serve"], {k: v for k, v in env.items() if k not in ("SLACK_SIGNING_SECRET",)})
    assert out.returncode == 2 and "SLACK_SIGNING_SECRET is not set: it is needed to verify" in out.stderr


def test_migrate_creates_the_schema(tmp_path):
    out = run(["migrate"], {"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"})
    assert out.returncode == 0, out.stderr
    assert "newest schema" in out.stdout


def test_serve_answers_slack_over_waitress(env, slack, db):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=child_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                health = requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "learnbot serve did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "database": "ok"}
        assert "waitress" in health.headers.get("Server", "") or "learnbot" in health.headers.get("Server", "")

        ts = str(int(time.time()))
        body = "command=%2Flearn&text=upload&user_id=U0REQ&trigger_id=1.2.3&team_id=T0LEARN&channel_id=C1"
        resp = requests.post(f"{base}/slack/events", data=body, timeout=5, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(env["SLACK_SIGNING_SECRET"], ts, body)})
        assert resp.status_code == 200
        assert slack.wait_for("views.open")[0].body["trigger_id"] == "1.2.3"
        forged = requests.post(f"{base}/slack/events", data=body, timeout=5, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + "0" * 64})
        assert forged.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dispatch_files_pending_work_and_prints_it(env, services, gitlab, dates):
    gitlab.fail_next(("POST", r"/issues$"), status=503)
    app = RunningApp(services, env["SLACK_SIGNING_SECRET"]).start()
    try:
        app.submit("content-review", slack_state(dates.raw("content-review")))
        gitlab.wait_for(("POST", r"/issues$"))
    finally:
        app.stop()
    later = (services.clock() + timedelta(minutes=5)).isoformat()
    out = run(["dispatch", "--now", later], env)
    assert out.returncode == 0, out.stderr
    from sqlalchemy import select

    from bot.store.models import Request

    with services.db.session() as s:
        request_id = s.scalar(select(Request.id))
    assert f"request {request_id}: filed" in out.stdout and f"request {request_id}: notified" in out.stdout
    assert len(gitlab.issues()) == 1
    again = run(["dispatch", "--now", later], env)
    assert "nothing due" in again.stdout


def test_dispatch_rejects_a_bad_time(env):
    out = run(["dispatch", "--now", "next tuesday"], env)
    assert out.returncode == 2 and "not an ISO-8601 time" in out.stderr


@pytest.mark.parametrize("threads", ["0", "-3", "many"])
def test_serve_refuses_a_thread_count_that_cannot_serve(env, threads):
    out = run(["serve", "--port", "0", "--threads", threads], env, timeout=30)
    assert out.returncode == 2
    assert "--threads" in out.stderr and ("1 to 1024" in out.stderr or "not a number" in out.stderr)


def test_socket_mode_serves_no_unverified_slack_endpoint(env, slack, db):
    socket_env = {k: v for k, v in env.items() if k != "SLACK_SIGNING_SECRET"}
    socket_env["SLACK_APP_TOKEN"] = "xapp-1-A0LBOT001-1-abcdef"
    # The real clock here: Socket Mode's client waits with timeouts, which never return under libfaketime
    # (CI's moved-clock run); nothing in this test is signed, so the clocks need not agree.
    proc, base = serve_process(["--socket"], socket_env, moved_clock=False)
    try:
        deadline = time.monotonic() + 10
        while slack.socket_mode is None:
            assert time.monotonic() < deadline, "learnbot never asked apps.connections.open"
            time.sleep(0.05)
        slack.socket_mode.wait_connected()
        # Anyone could send this: an unsigned `/learn mine` for someone else. It gets nothing.
        body = "command=%2Flearn&text=mine&user_id=U0REQ&trigger_id=1.2.3&team_id=T0LEARN&channel_id=C1"
        for headers in ({}, {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}):
            resp = requests.post(f"{base}/slack/events", data=body, timeout=5,
                                 headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
            assert resp.status_code == 404 and resp.json() == {"error": "not_found"}
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 200
        # Slack's own requests come over the socket, and are answered there.
        answer = slack.socket_mode.send("slash_commands", {
            "command": "/learn", "text": "help", "user_id": "U0REQ", "team_id": "T0LEARN", "channel_id": "C1",
            "trigger_id": "1.2.4", "api_app_id": "A0LBOT001"})
        assert "new-pathway" in json.dumps(answer)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
