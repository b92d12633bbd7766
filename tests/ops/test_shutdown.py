"""SIGTERM mid-pass: the item in hand is finished, the rest of the claimed batch is handed back at
once (no lease left to run out), and the process exits 0. `serve` stops accepting and exits."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from bot.store.models import Job, JobKind, Request, RequestStatus
from tests.e2e.harness import child_env
from tests.e2e.test_intake import wait_until
from tests.samples import RAW

ROOT = Path(__file__).parents[2]
ISSUES = ("POST", r"/issues$")


def start(args, env):
    # child_env: PATH, HOME and a moved clock (CI's libfaketime run), so the child's "now" is the test's.
    return subprocess.Popen([sys.executable, "-m", "bot", *args], env=child_env(env), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("command", [["dispatch"], ["worker"]])
def test_sigterm_mid_pass_finishes_the_job_in_hand_and_releases_the_others(command, env, services, gitlab):
    now = services.clock()
    for i in range(5):
        raw = dict(RAW["external-content"], title=f"Course {i}")
        assert services.intake.submit("external-content", raw, user_id="U0REQ", view_id=None, now=now).request_id
    gitlab.fail_next(ISSUES, delay=1.5, times=5)  # every create is slow: SIGTERM lands during the first
    proc = start(command, env)
    try:
        wait_until(lambda: gitlab.calls_matching(ISSUES), timeout=30)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert len(gitlab.issues()) == 1  # the job in hand was finished, the others never started
    after = services.clock()
    with services.db.session() as s:
        waiting = list(s.scalars(select(Job).where(Job.kind == JobKind.FILE_ISSUE, Job.finished_at.is_(None))))
        assert len(waiting) == 4
        assert all(j.claimed_until is None and j.attempts == 0 for j in waiting), [
            (j.claimed_until, j.attempts) for j in waiting]
    assert "released 4 claimed jobs" in err
    # Another worker takes them straight away: nothing waits for a lease to run out.
    gitlab.clear_faults()
    results = services.dispatcher.run_once(now=after).filing
    assert len(results) == 4 and len(gitlab.issues()) == 5
    with services.db.session() as s:
        assert set(s.scalars(select(Request.status))) == {RequestStatus.OPEN}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_stops_accepting_and_exits_0_on_sigterm(env):
    port = free_port()
    proc = start(["serve", "--host", "127.0.0.1", "--port", str(port)], env)
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, timeout=30)
        assert _get(f"http://127.0.0.1:{port}/readyz") == 200
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _get(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.ConnectionError:
        time.sleep(0.05)
        return None


def test_serve_answers_the_request_in_flight_when_sigterm_arrives(env):
    """A request half-sent when SIGTERM arrives is still read and answered; then the process exits 0."""
    port = free_port()
    proc = start(["serve", "--host", "127.0.0.1", "--port", str(port)], env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/healthz") == 200, timeout=30)
        reader.start()
        body = b'{"object_kind": "push", "ref": "refs/heads/main"}'
        head = (f"POST /gitlab/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"X-Gitlab-Token: {env['GITLAB_WEBHOOK_SECRET']}\r\nX-Gitlab-Event: Push Hook\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(head + body[:10])
            proc.send_signal(signal.SIGTERM)
            wait_until(lambda: any("SIGTERM" in ln for ln in lines), timeout=10)
            conn.sendall(body[10:])
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    reader.join(timeout=5)
    assert any("stopped" in ln for ln in lines), "".join(lines)
