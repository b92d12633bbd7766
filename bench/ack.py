"""How fast learnbot acknowledges Slack, against a bare Bolt app answering the same requests.

    python -m bench.ack [--requests 200]

Both apps run in this process behind the same werkzeug server, with the same signing secret,
against the loopback Slack and GitLab stand-ins (tests/standins). Measured over HTTP, as Slack
sees it: `/learn help` (answered in the ack), `/learn new-pathway` (ack, then views.open) and a
modal submission (validated and stored before the ack; the issue is filed after). The
baseline is a bare Bolt app whose listeners only call ack(). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import requests
from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from werkzeug.serving import make_server

from bot.config import load_settings
from bot.container import build_services
from bot.store.migrate import upgrade
from tests.e2e.harness import RunningApp
from tests.samples import RAW, slack_state
from tests.standins.gitlab import FakeGitLab
from tests.standins.slack import FakeSlack

SECRET = "bench-signing-secret"


class BareBolt(RunningApp):
    """The baseline: Bolt with the same verification, listeners that only ack()."""

    def start(self) -> BareBolt:
        bolt = App(signing_secret=SECRET, token_verification_enabled=False,
                   request_verification_enabled=True, url_verification_enabled=False,
                   client=self.services.web_client)
        bolt.command("/learn")(lambda ack: ack())
        bolt.view("learn.submit")(lambda ack: ack())
        handler = SlackRequestHandler(bolt)
        web = Flask("bare")
        web.post("/slack/events")(lambda: handler.handle(request))
        self._server = make_server("127.0.0.1", 0, web, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        import threading

        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self


def measure(send: Callable[[], requests.Response], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        resp = send()
        samples.append(time.perf_counter() - started)
        assert resp.status_code == 200, resp.text
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind (default: 200)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with FakeSlack() as slack, FakeGitLab() as gitlab:
        slack.add_user("U0REQ", tz="America/New_York")
        slack.add_user("U0COOWNER", tz="Australia/Sydney")
        gitlab.add_project("learning-development/general")
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        upgrade(url)
        services = build_services(load_settings({
            "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url,
            "GITLAB_URL": gitlab.url, "GITLAB_TOKEN": gitlab.token, "GITLAB_PROJECT": "learning-development/general",
            "DATABASE_URL": url,
        }))
        learnbot, bare = RunningApp(services, SECRET).start(), BareBolt(services, SECRET).start()
        state = slack_state(RAW["new-pathway"])
        kinds: dict[str, Callable[[RunningApp], requests.Response]] = {
            "`/learn help`": lambda a: a.command("help"),
            "`/learn new-pathway` (opens the modal)": lambda a: a.command("new-pathway"),
            "modal submission (stored before the ack)": lambda a: a.submit("new-pathway", state),
        }
        rows: list[tuple[str, dict[str, Any]]] = []
        for name, send in kinds.items():
            measure(lambda s=send: s(learnbot), 10)  # warm up both
            measure(lambda s=send: s(bare), 10)
            ours = measure(lambda s=send: s(learnbot), args.requests)
            base = measure(lambda s=send: s(bare), args.requests)
            rows.append((name, {"ours": ours, "base": base}))
        learnbot.stop()
        bare.stop()
        services.close()
    print(f"{args.requests} requests of each kind over loopback HTTP; Slack's limit is 3,000 ms")
    print("| request | learnbot median | p95 | bare Bolt median | p95 | median ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        ours, base = sorted(r["ours"]), sorted(r["base"])
        p95 = int(len(ours) * 0.95) - 1
        mo, mb = statistics.median(ours), statistics.median(base)
        print(f"| {name} | {mo * 1000:.1f} ms | {ours[p95] * 1000:.1f} ms | {mb * 1000:.1f} ms | "
              f"{base[p95] * 1000:.1f} ms | {mo / mb:.1f}x |")


if __name__ == "__main__":
    main()
