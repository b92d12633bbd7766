"""How fast learnbot answers Slack, against a bare Bolt app on the same server, in the same run.

    python -m bench.ack [--requests 200] [--postgres URL] [--parts fast,slow,memory,busy]

Both apps run as their own processes behind waitress with the same number of threads
(`learnbot serve --threads 8` and bench/bare_bolt.py), with the same signing secret, against the
Slack and GitLab stand-ins (tests/standins) in a third process. The clients here sign requests as
Slack does and time them over loopback HTTP, as Slack sees them.

fast    `/learn help`, `/learn new-pathway` (opens a modal), a modal submission (validated and
        stored before the answer) and a reminder button (Snooze: a database write, then the DM is
        redrawn), each at 1, 4 and 16 concurrent requests: p50/p95/p99 of both apps and the ratio
        of the p95s. The bare app's listeners only ack().
slow    the same four at 16 concurrent while GitLab takes 8 s per issue create and every Slack Web
        API call takes 2 s: p99 of every answer, how soon each modal's views.open reached Slack
        after its command (the trigger id lives 3 s), and that every request is filed exactly once.
memory  1,000 submissions while GitLab accepts connections and never answers: the web process's
        RSS, its after-answer queue and what was left to the worker.
busy    16 submissions at once, several rounds, while every core is kept busy by other processes
        (a normal day on a shared host): the slowest answer of each round, both apps.

Run on SQLite, and on PostgreSQL as well with --postgres (a server where databases can be
created; each run makes and drops its own). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from sqlalchemy import func, select

from bench.standins_proc import PROJECT, StandIns
from bot.messages.ids import Action
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Job, JobKind, Reminder, Request
from tests.e2e.harness import TEAM, RunningApp, child_env
from tests.samples import SampleDates, slack_state

SECRET = "bench-signing-secret"
ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 4, 16)
GOALS = {"help": 1.0, "new-pathway": 1.0, "submission": 1.2, "button": 1.0}
LABELS = {"help": "`/learn help`", "new-pathway": "`/learn new-pathway`", "submission": "modal submission",
          "button": "reminder button (Snooze)"}


# --- the two servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples on /metrics that carry these labels (0 if none)."""
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.e+-]+)$", line)
            if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                total += float(m.group(2))
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(name: str, args: list[str], env: dict[str, str], workdir: Path, code: Path) -> Server:
    port = free_port()
    log = workdir / f"{name}.log"
    # child_env: PATH, HOME and a moved clock (CI's libfaketime run), so both apps agree with the signer.
    full_env = child_env({"PYTHONPATH": str(code), **env})
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args, "--host", "127.0.0.1", "--port", str(port)],
                                env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{server.url}/healthz", timeout=1)
            return server
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


@dataclass
class Setup:
    """One database and the stand-ins, with learnbot and the bare app serving against them."""

    db_url: str
    standins: StandIns
    learnbot: Server
    bare: Server | None
    db: Database
    triggers: dict[str, float] = field(default_factory=dict)


@contextmanager
def setup(db_url: str, *, threads: int, code: Path, bare: bool = True) -> Iterator[Setup]:
    upgrade(db_url)
    standins = StandIns()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": standins.slack_url,
           "GITLAB_URL": standins.gitlab_url, "GITLAB_TOKEN": standins.gitlab_token, "GITLAB_PROJECT": PROJECT,
           "GITLAB_WEBHOOK_SECRET": "bench-hook", "DATABASE_URL": db_url}
    servers: list[Server] = []
    try:
        servers.append(start("learnbot", ["bot", "serve", "--threads", str(threads)], env, workdir, code))
        if bare:
            servers.append(start("bare", ["bench.bare_bolt", "--threads", str(threads)], env, workdir, ROOT))
        yield Setup(db_url, standins, servers[0], servers[1] if bare else None, Database(db_url))
    finally:
        for server in servers:
            server.stop()
        standins.close()


# --- what Slack sends ---------------------------------------------------------------------------------


STATE = slack_state(SampleDates.after(datetime.now(UTC)).raw("new-pathway"))  # dates ahead of today


@dataclass
class Client:
    """One connection's worth of Slack: signed requests on a kept-alive session."""

    app: RunningApp
    ctx: Setup
    buttons: list[tuple[int, dict[str, Any]]]
    n: int = 0

    def command(self, text: str) -> requests.Response:
        trigger = f"{uuid.uuid4().hex}.bench"
        body = urlencode({
            "token": "legacy", "team_id": TEAM["id"], "team_domain": TEAM["domain"], "channel_id": "C0GENERAL",
            "channel_name": "general", "user_id": "U0REQ", "user_name": "u0req", "command": "/learn", "text": text,
            "api_app_id": "A0LEARN", "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0LEARN/1/abc", "trigger_id": trigger})
        self.ctx.triggers[trigger] = time.monotonic()
        return self.app.post_signed(body)

    def send(self, kind: str) -> requests.Response:
        self.n += 1
        if kind == "help":
            return self.command("help")
        if kind == "new-pathway":
            return self.command("new-pathway")
        if kind == "submission":
            return self.app.submit("new-pathway", STATE)
        reminder_id, message = self.buttons[self.n % len(self.buttons)]
        return self.app.block_action(Action.REMINDER_SNOOZE_DAY.value, value=str(reminder_id), message=message)


def answered(kind: str, resp: requests.Response, *, learnbot: bool) -> bool:
    if resp.status_code != 200:
        return False
    if kind == "submission" and learnbot:
        return resp.json().get("response_action") == "update"
    return True


def load(server: Server, ctx: Setup, kind: str, total: int, concurrency: int,
         buttons: list[tuple[int, dict[str, Any]]]) -> tuple[list[float], int]:
    """`total` requests of one kind from `concurrency` clients at once; their latencies and failures."""
    per_client = max(1, math.ceil(total / concurrency))
    samples: list[float] = []
    failures = [0]
    lock = threading.Lock()
    ready = threading.Barrier(concurrency)

    def client() -> None:
        app = RunningApp(None, SECRET, url=server.url)  # type: ignore[arg-type]
        c = Client(app, ctx, buttons)
        app.session.get(f"{server.url}/healthz", timeout=10)  # the connection is open before timing starts
        ready.wait()
        mine, bad = [], 0
        for _ in range(per_client):
            started = time.perf_counter()
            try:
                resp = c.send(kind)
                ok = answered(kind, resp, learnbot=server.name == "learnbot")
            except requests.RequestException:
                ok = False
            mine.append(time.perf_counter() - started)
            bad += not ok
        app.session.close()
        with lock:
            samples.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, failures[0]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


def ms(samples: list[float]) -> str:
    return f"{pct(samples, 0.50):.1f} / {pct(samples, 0.95):.1f} / {pct(samples, 0.99):.1f}"


# --- the parts -------------------------------------------------------------------------------------------


def reminder_buttons(ctx: Setup, how_many: int = 64) -> list[tuple[int, dict[str, Any]]]:
    """Reminders of U0REQ's stored requests, each pressed on a real DM (chat.update has a message to redraw)."""
    with ctx.db.session() as s:
        ids = list(s.scalars(select(Reminder.id).where(Reminder.recipient_id == "U0REQ", Reminder.sent_at.is_(None))
                             .order_by(Reminder.id).limit(how_many)))
    if not ids:
        raise SystemExit("no reminders stored: did the submissions fail?")
    channel, ts = ctx.standins("post_dm", "U0REQ", "Reminder: start collaborating with L&D")
    message = {"channel": channel, "ts": ts, "text": "Reminder", "type": "message"}
    return [(i, message) for i in ids]


def wait_filed(ctx: Setup, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with ctx.db.session() as s:
            filed = s.scalar(select(func.count()).select_from(Request).where(Request.gitlab_iid.is_not(None))) or 0
        if filed >= expected or time.monotonic() > deadline:
            return filed
        time.sleep(0.5)


def settle(server: Server, timeout: float = 120) -> None:
    """Wait until learnbot's after-answer lanes are idle (no-op for code without those metrics)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = sum(server.metric(name) for name in ("learnbot_after_answer_queue_depth",
                                                     "learnbot_after_answer_running"))
        if busy == 0:
            return
        time.sleep(0.2)


def part_fast(ctx: Setup, requests_per: int, kinds: list[str]) -> list[str]:
    assert ctx.bare is not None
    rows = []
    buttons: list[tuple[int, dict[str, Any]]] = []
    for kind in kinds:
        if kind == "button":
            if not buttons and "submission" not in kinds:
                load(ctx.learnbot, ctx, "submission", 8, 4, [])
            buttons = reminder_buttons(ctx)
        for conc in CONCURRENCY:
            settle(ctx.learnbot)  # each row measures its own requests' after-work, not the last row's
            for server in (ctx.learnbot, ctx.bare):  # warm-up: connections, caches, Bolt's auth.test
                load(server, ctx, kind, 2 * conc, conc, buttons)
            ours: list[float] = []
            base: list[float] = []
            failed = {"learnbot": 0, "bare": 0}
            for _ in range(2):  # alternate halves, so drift on a shared machine hits both
                for server, into in ((ctx.learnbot, ours), (ctx.bare, base)):
                    got, bad = load(server, ctx, kind, requests_per // 2, conc, buttons)
                    into.extend(got)
                    failed[server.name] += bad
            ratio = pct(ours, 0.95) / pct(base, 0.95)
            verdict = "yes" if ratio <= GOALS[kind] else "**no**"
            errors = f"{failed['learnbot']} / {failed['bare']}"
            rows.append(f"| {LABELS[kind]} | {conc} | {ms(ours)} | {ms(base)} | **{ratio:.2f}x** | "
                        f"≤ {GOALS[kind]:.1f}x: {verdict} | {errors} |")
    return ["| request | concurrent | learnbot p50 / p95 / p99 ms | bare Bolt p50 / p95 / p99 ms | "
            "p95 ratio | goal | failed (ours / bare) |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: |", *rows]


def part_slow(ctx: Setup, requests_per: int) -> list[str]:
    assert ctx.bare is not None
    # Warm up at normal speed (and store a few requests whose reminders the buttons press).
    for kind in ("help", "new-pathway", "submission"):
        for server in (ctx.learnbot, ctx.bare):
            load(server, ctx, kind, 8, 4, [])
    wait_filed(ctx, 8, 60)
    buttons = reminder_buttons(ctx)
    with ctx.db.session() as s:
        before = s.scalar(select(func.count()).select_from(Request)) or 0
    ctx.standins("slow_gitlab_creates", 8.0)
    ctx.standins("slow_slack", 2.0)
    ctx.triggers.clear()
    opened_before = len(ctx.standins("views_opened"))
    rows = []
    sent_at = time.monotonic()
    for kind in GOALS:
        ours, bad = load(ctx.learnbot, ctx, kind, requests_per, 16, buttons)
        base, _ = load(ctx.bare, ctx, kind, requests_per, 16, buttons)
        verdict = "yes" if pct(ours, 0.99) < 1000 else "**no**"
        rows.append(f"| {LABELS[kind]} | {ms(ours)} | {ms(base)} | < 1,000 ms: {verdict} | {bad} |")
    with ctx.db.session() as s:
        stored = (s.scalar(select(func.count()).select_from(Request)) or 0) - before
    ours_triggers = {t: at for t, at in ctx.triggers.items()}
    # Every modal: when its views.open reached Slack, counted from when its command was sent.
    deadline = time.monotonic() + 30
    while True:
        opened = [(t, at, status) for t, at, status in ctx.standins("views_opened")[opened_before:]
                  if t in ours_triggers]
        if len(opened) >= requests_per or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    lags = sorted(at - ours_triggers[t] for t, at, _ in opened)
    filed = wait_filed(ctx, before + stored, 240)
    with ctx.db.session() as s:
        markers = [r.marker for r in s.scalars(select(Request))]
    descriptions = ctx.standins("issue_descriptions")
    counts = [sum(m in d for d in descriptions) for m in markers]
    ctx.standins("clear_faults")
    took = time.monotonic() - sent_at
    lines = ["| request (16 concurrent) | learnbot p50 / p95 / p99 ms | bare Bolt p50 / p95 / p99 ms | goal | failed |",
             "| --- | ---: | ---: | --- | ---: |", *rows, ""]
    lines.append(f"- modals: {len(opened)} of {requests_per} `/learn new-pathway` opened; views.open reached Slack "
                 f"{lags[len(lags) // 2]:.2f} s (median) and {lags[-1]:.2f} s (latest) after the command "
                 "(the trigger id lives 3 s)" if lags else "- modals: none opened")
    lines.append(f"- filing: {stored} submissions stored, {filed - before} of them filed within {took:.0f} s; "
                 f"issues per request: {'exactly one each' if set(counts) == {1} else sorted(set(counts))} "
                 f"({len(descriptions)} issues for {len(markers)} requests)")
    return lines


def _spin(stop_at: float) -> None:
    while time.time() < stop_at:
        sum(i * i for i in range(10_000))


def part_busy(ctx: Setup, rounds: int = 8) -> list[str]:
    """16 submissions at once while other processes keep every core busy."""
    import multiprocessing

    assert ctx.bare is not None
    for server in (ctx.learnbot, ctx.bare):  # warm-up: connections, caches, Bolt's auth.test
        load(server, ctx, "submission", 16, 16, [])
    settle(ctx.learnbot)
    burners = [multiprocessing.get_context("spawn").Process(target=_spin, args=(time.time() + 600,), daemon=True)
               for _ in range(os.cpu_count() or 2)]
    for b in burners:
        b.start()
    try:
        time.sleep(1.0)  # the burners are running
        slowest: dict[str, list[float]] = {"learnbot": [], "bare": []}
        failed = {"learnbot": 0, "bare": 0}
        for _ in range(rounds):
            for server in (ctx.learnbot, ctx.bare):
                got, bad = load(server, ctx, "submission", 16, 16, [])
                slowest[server.name].append(max(got))
                failed[server.name] += bad
            settle(ctx.learnbot)
    finally:
        for b in burners:
            b.kill()
    ours, base = slowest["learnbot"], slowest["bare"]
    return ["| app | slowest of 16 at once, per round (ms): median / worst | all < 1.5 s | failed |",
            "| --- | ---: | --- | ---: |",
            f"| learnbot | {pct(ours, 0.5):.0f} / {max(ours) * 1000:.0f} | "
            f"{'yes' if max(ours) < 1.5 else '**no**'} | {failed['learnbot']} |",
            f"| bare Bolt | {pct(base, 0.5):.0f} / {max(base) * 1000:.0f} | "
            f"{'yes' if max(base) < 1.5 else '**no**'} | {failed['bare']} |"]


def part_memory(ctx: Setup, submissions: int) -> list[str]:
    server = ctx.learnbot
    load(server, ctx, "submission", 20, 4, [])
    wait_filed(ctx, 20, 60)
    ctx.standins("hang_gitlab", 3600.0)
    rows = [f"| 0 | {server.rss_mb():.1f} | - | - | - | - |"]
    step = max(1, submissions // 4)
    done = 0
    while done < submissions:
        got, bad = load(server, ctx, "submission", step, 16, [])
        done += len(got)
        rows.append(f"| {done:,} | {server.rss_mb():.1f} | "
                    f"{server.metric('learnbot_after_answer_queue_depth', lane='background'):.0f} | "
                    f"{server.metric('learnbot_after_answer_running', lane='background'):.0f} | "
                    f"{server.metric('learnbot_after_answer_rejected_total', lane='background'):.0f} | "
                    f"{pct(got, 0.99):.1f} ms ({bad} failed) |")
    with ctx.db.session() as s:
        stored = s.scalar(select(func.count()).select_from(Request)) or 0
        pending = s.scalar(select(func.count()).select_from(Job).where(
            Job.kind == JobKind.FILE_ISSUE, Job.finished_at.is_(None))) or 0
    ctx.standins("clear_faults")
    sent = done + 20
    lost = "none lost" if stored >= sent else f"{sent - stored:,} not stored"
    return ["| submissions | web RSS (MB) | background queue | running | left to the worker (rejected) | "
            "answer p99 |", "| ---: | ---: | ---: | ---: | ---: | ---: |", *rows, "",
            f"- {stored:,} of {sent:,} submissions stored ({lost}), {pending:,} filings pending in the database "
            "for the worker"]


# --- main --------------------------------------------------------------------------------------------------


@contextmanager
def database(kind: str, postgres: str | None) -> Iterator[str]:
    if kind == "SQLite":
        yield f"sqlite:///{tempfile.mkdtemp(prefix='bench-ack-')}/bench.db"
        return
    from tests.conftest import _drop_postgres, _fresh_postgres

    assert postgres
    url = _fresh_postgres(postgres.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        yield url
    finally:
        _drop_postgres(url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind and concurrency (200)")
    parser.add_argument("--slow-requests", type=int, default=48, help="requests of each kind in `slow` (48)")
    parser.add_argument("--submissions", type=int, default=1000, help="submissions in `memory` (1000)")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (a fresh database on this server)")
    parser.add_argument("--parts", default="fast,slow,memory",
                        help="which parts to run (fast,slow,memory; busy: with every core kept busy)")
    parser.add_argument("--kinds", default=",".join(GOALS), help=f"requests in `fast` ({','.join(GOALS)})")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads of both servers (8)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="run learnbot from this checkout (to compare before and after a change)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    print(f"bench.ack: {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, waitress --threads {args.threads} "
          f"for both apps, loopback HTTP; learnbot from {args.code}")
    for kind in ["SQLite"] + (["PostgreSQL"] if args.postgres else []):
        for part in parts:
            with database(kind, args.postgres) as url, \
                    setup(url, threads=args.threads, code=args.code, bare=part != "memory") as ctx:
                if part == "fast":
                    print(f"\n### {kind}: answers at 1, 4 and 16 concurrent, {args.requests} requests each\n")
                    lines = part_fast(ctx, args.requests, [k for k in args.kinds.split(",") if k])
                elif part == "slow":
                    print(f"\n### {kind}: GitLab 8 s per issue create, Slack's Web API 2 s per call, "
                          f"{args.slow_requests} requests of each kind at 16 concurrent\n")
                    lines = part_slow(ctx, args.slow_requests)
                elif part == "busy":
                    print(f"\n### {kind}: 16 submissions at once, every core busy with other processes, "
                          "8 rounds\n")
                    lines = part_busy(ctx)
                elif part == "memory":
                    print(f"\n### {kind}: {args.submissions:,} submissions at 16 concurrent while GitLab never "
                          "answers\n")
                    lines = part_memory(ctx, args.submissions)
                else:
                    raise SystemExit(f"unknown part {part!r}: use fast, slow, memory or busy")
                print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
