"""The Slack and GitLab stand-ins in a process of their own, driven over a pipe (for bench.ack).

In their own process they take no CPU time from the benchmark's clients (whose clocks are the
measurement), as the real Slack and GitLab would not. Only the few operations the benchmark needs.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any

SLACK_METHODS = ("auth.test", "users.info", "conversations.open", "conversations.history", "chat.postMessage",
                 "chat.update", "chat.postEphemeral", "views.open", "views.update", "views.publish")
PROJECT = "learning-development/general"
USERS = {"U0REQ": "America/New_York", "U0COOWNER": "Australia/Sydney"}
FOREVER = 10**9


def _serve(conn: Connection) -> None:
    from slack_sdk import WebClient

    from tests.standins.gitlab import FakeGitLab
    from tests.standins.slack import FakeSlack

    # The benchmark seeds 64 DMs to one person at once, past Slack's per-channel pace: Slack's limits are
    # not what it measures (learnbot keeps to them on its side anyway, bot/gateways/pace.py).
    slack, gitlab = FakeSlack(rate_limited=False).start(), FakeGitLab().start()
    for user, tz in USERS.items():
        slack.add_user(user, tz=tz)
    gitlab.add_project(PROJECT)

    def slow_slack(seconds: float) -> None:
        for method in SLACK_METHODS:
            slack.fail_next(method, delay=seconds, times=FOREVER)

    def post_dm(user: str, text: str) -> tuple[str, str]:
        resp = WebClient(token="xoxb-bench", base_url=slack.url).chat_postMessage(channel=user, text=text)
        return resp["channel"], resp["ts"]

    def add_people(n: int, tz: str) -> list[str]:
        people = [f"U1{i:07d}" for i in range(n)]
        for user in people:
            slack.add_user(user, tz=tz)
        return people

    def slow_method(method: str, seconds: float) -> None:
        slack.fail_next(method, delay=seconds, times=FOREVER)

    def enforce_limits(posts_per_minute: int) -> None:
        """Slack's tiers as the stand-in knows them, with this workspace-wide ceiling on chat.postMessage."""
        slack.rate_limited = True
        slack.set_rate_limit("chat.postMessage", (posts_per_minute, 60.0, False), (5, 5.0, True))

    def posted_dms() -> int:
        return len(slack.accepted("chat.postMessage"))

    def clear_faults() -> None:
        slack.clear_faults()
        gitlab.clear_faults()

    ops: dict[str, Any] = {
        "slow_gitlab_creates": lambda seconds: gitlab.fail_next(("POST", r"/issues$"), delay=seconds, times=FOREVER),
        "hang_gitlab": lambda seconds: gitlab.fail_next(lambda c: True, delay=seconds, times=FOREVER),
        "slow_slack": slow_slack,
        "slow_method": slow_method,
        "add_people": add_people,
        "enforce_limits": enforce_limits,
        "posted_dms": posted_dms,
        "refused": lambda method: len([c for c in slack.calls_to(method) if c.status == 429]),
        "clear_faults": clear_faults,
        "views_opened": lambda: [(c.body.get("trigger_id"), c.received_at, c.status)
                                 for c in slack.calls_to("views.open")],
        "issue_descriptions": lambda: [i.get("description") or "" for i in gitlab.issues()],
        "post_dm": post_dm,
        "stop": lambda: None,
    }
    conn.send({"slack": slack.url, "gitlab": gitlab.url, "gitlab_token": gitlab.token})
    while True:
        op, args = conn.recv()
        try:
            conn.send((True, ops[op](*args)))
        except Exception as exc:  # report it to the caller, keep serving
            conn.send((False, f"{type(exc).__name__}: {exc}"))
        if op == "stop":
            slack.stop()
            gitlab.stop()
            return


class StandIns:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="bench-standins")
        self._proc.start()
        self._lock = threading.Lock()
        urls = self._conn.recv()
        self.slack_url: str = urls["slack"]
        self.gitlab_url: str = urls["gitlab"]
        self.gitlab_token: str = urls["gitlab_token"]

    def __call__(self, op: str, *args: Any) -> Any:
        with self._lock:
            self._conn.send((op, args))
            ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"stand-ins: {op}: {value}")
        return value

    def close(self) -> None:
        self("stop")
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
