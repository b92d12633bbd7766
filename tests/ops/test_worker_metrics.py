"""Every process is observable (issue 15, 7): `learnbot worker --metrics-port` serves the worker's own
counters, so its passes, messages and Slack calls reach Prometheus."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import requests

from tests.e2e.harness import child_env
from tests.e2e.test_intake import wait_until
from tests.ops.helpers import add_notice, add_request, scrape, value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_worker_serves_its_own_metrics(env, services, slack):
    now = services.clock()
    with services.db.session() as s:
        request = add_request(s, created=now - timedelta(hours=1))
        add_notice(s, request, key="owed", due=now - timedelta(minutes=1))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "worker", "--metrics-port", str(port),
                             "--metrics-host", "127.0.0.1"], env=child_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/metrics"

    def page() -> dict | None:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[0])
        try:
            samples = scrape(requests.get(url, timeout=2).text)
        except requests.ConnectionError:
            return None
        passed = value(samples, "learnbot_dispatch_seconds_count") >= 1  # observed when the pass ends
        sent = value(samples, "learnbot_owed_work_total", kind="notice", outcome="done")
        return samples if passed and sent >= 1 else None

    try:
        samples = wait_until(page, timeout=60)
        assert slack.messages_to("U0REQ")  # the DM the counter counts
        assert value(samples, "learnbot_slack_calls_total", method="chat.postMessage", outcome="ok") >= 1
        # The database's gauges are the web process's: served twice, Prometheus would count them twice.
        assert ("learnbot_database_up", ()) not in samples
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert f"worker metrics on http://127.0.0.1:{port}/metrics" in out
