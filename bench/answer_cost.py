"""What each kind of answer to Slack costs: SQL statements and outside calls on the answering thread.

    python -m bench.answer_cost [--requests 50] [--postgres URL]

learnbot's web app (Flask + Bolt, as `learnbot serve` builds it) runs in this process on a
loopback port against the Slack and GitLab stand-ins. For each kind of answer it counts, on the
thread that answers (not the after-answer lanes), the SQL statements sent and the HTTP calls made
to Slack or GitLab (there must be none: no answer waits on a network call), and times the answer
over loopback HTTP against a bare Bolt app (bench/bare_bolt.py's, listeners that only ack()) served
the same way in the same run. Sequential requests: this is the cost of one answer, not a load test.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import event, select
from werkzeug.serving import make_server

from bot.config import load_settings
from bot.container import Services, build_services
from bot.messages.ids import Action
from bot.store.migrate import upgrade
from bot.store.models import Reminder
from tests.e2e.harness import RunningApp
from tests.samples import REQUESTER_ZONE, SampleDates, slack_state
from tests.standins.gitlab import FakeGitLab
from tests.standins.slack import FakeSlack

SECRET = "bench-signing-secret"
PROJECT = "learning-development/general"


@dataclass
class Counted:
    statements: list[int] = field(default_factory=list)
    outside: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


class AnsweringThread:
    """Counts SQL statements and outgoing HTTP calls made by threads other than the after-answer lanes."""

    def __init__(self, services: Services):
        self.statements = 0
        self.outside = 0
        self._on = False
        event.listen(services.db.engine, "before_cursor_execute", self._statement)
        original = http.client.HTTPConnection.request
        counter = self

        def request(conn: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> Any:
            if counter._counts():
                counter.outside += 1
            return original(conn, *args, **kwargs)

        http.client.HTTPConnection.request = request  # type: ignore[method-assign]

    def _counts(self) -> bool:
        name = threading.current_thread().name
        return self._on and not name.startswith("after-answer") and name != "MainThread"

    def _statement(self, *_args: Any) -> None:
        if self._counts():
            self.statements += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.statements = self.outside = 0
        self._on = True
        try:
            yield
        finally:
            self._on = False


def bare_bolt(slack_url: str) -> tuple[str, Callable[[], None]]:
    os.environ["SLACK_API_URL"] = slack_url
    from bench.bare_bolt import create_app

    server = make_server("127.0.0.1", 0, create_app(SECRET), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def run(database_url: str, n: int) -> list[tuple[str, Counted, list[float]]]:
    with FakeSlack() as slack, FakeGitLab() as gitlab:
        for user, tz in {"U0REQ": REQUESTER_ZONE, "U0COOWNER": "Australia/Sydney"}.items():
            slack.add_user(user, tz=tz)
        gitlab.add_project(PROJECT)
        upgrade(database_url)
        env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url,
               "GITLAB_URL": gitlab.url, "GITLAB_TOKEN": gitlab.token, "GITLAB_PROJECT": PROJECT,
               "GITLAB_WEBHOOK_SECRET": "bench-hook", "DATABASE_URL": database_url}
        services = build_services(load_settings(env))
        app = RunningApp(services, SECRET).start()
        bare_url, stop_bare = bare_bolt(slack.url)
        bare = RunningApp(None, SECRET, url=bare_url)  # type: ignore[arg-type]
        counter = AnsweringThread(services)
        dates = SampleDates.after(Services.clock())
        pathway = [slack_state(dates.raw("new-pathway")) for _ in range(n + 1)]
        for state in pathway[:1]:  # warm caches (templates, the requester's zone)
            app.submit("new-pathway", state)
        time.sleep(1.0)
        with services.db.session() as s:
            reminder_ids = list(s.scalars(select(Reminder.id).where(Reminder.recipient_id == "U0REQ")))
        from slack_sdk import WebClient

        posted = WebClient(token="xoxb-bench", base_url=slack.url).chat_postMessage(channel="U0REQ", text="reminder")
        channel, ts = posted["channel"], posted["ts"]
        message = {"type": "message", "ts": ts, "channel": channel, "text": "reminder", "user": "B0LEARN"}
        home = {"type": "app_home_opened", "user": "U0REQ", "channel": "D0HOME", "tab": "home"}

        def event_body(i: int) -> str:
            import json

            return json.dumps({"token": "t", "team_id": "T0LEARN", "api_app_id": "A0LEARN",
                               "event": {**home, "event_ts": f"{time.time():.6f}"}, "type": "event_callback",
                               "event_id": f"Ev{i}{time.time_ns()}", "event_time": int(time.time())})

        json_type = {"Content-Type": "application/json"}

        kinds: list[tuple[str, Callable[[RunningApp, int], requests.Response]]] = [
            ("`/learn help`", lambda a, i: a.command("help")),
            ("`/learn new-pathway` (opens a modal)", lambda a, i: a.command("new-pathway")),
            ("`/learn mine`", lambda a, i: a.command("mine")),
            ("modal submission (new pathway)", lambda a, i: a.submit("new-pathway", pathway[1 + i])),
            ("reminder button (Snooze 1 day)", lambda a, i: a.block_action(
                Action.REMINDER_SNOOZE_DAY.value, value=str(reminder_ids[i % len(reminder_ids)]), message=message)),
            ("App Home opened", lambda a, i: a.post_signed(event_body(i), headers=json_type)),
        ]
        out = []
        for label, send in kinds:
            counted, baseline = Counted(), []
            for i in range(n):
                with counter.counting():
                    started = time.perf_counter()
                    resp = send(app, i)
                    counted.seconds.append(time.perf_counter() - started)
                assert resp.status_code == 200, (label, resp.status_code, resp.text[:200])
                counted.statements.append(counter.statements)
                counted.outside.append(counter.outside)
                started = time.perf_counter()
                send(bare, i)
                baseline.append(time.perf_counter() - started)
                time.sleep(0.02)  # let the after-answer work of this one run between answers
            out.append((label, counted, baseline))
        services.after_answer.shutdown(wait=True, timeout=30)
        app.stop()
        stop_bare()
        services.close()
        return out


def table(rows: list[tuple[str, Counted, list[float]]]) -> str:
    lines = ["| answer | SQL statements (max) | Slack/GitLab calls before the answer | learnbot p50 | bare Bolt p50 "
             "| ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, c, base in rows:
        mine, theirs = statistics.median(c.seconds) * 1000, statistics.median(base) * 1000
        lines.append(f"| {label} | {max(c.statements)} | {max(c.outside)} | {mine:.1f} ms | {theirs:.1f} ms | "
                     f"{mine / theirs:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", help="also run on this PostgreSQL server (a database is made and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite:\n")
        print(table(run(f"sqlite:///{tmp}/bench.db", args.requests)))
    if args.postgres:
        from tests.conftest import _drop_postgres, _fresh_postgres

        url = _fresh_postgres(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            print("\nPostgreSQL:\n")
            print(table(run(url, args.requests)))
        finally:
            _drop_postgres(url)


if __name__ == "__main__":
    main()
