"""History is free (issue 16): today's work costs the same with 1k or 1M requests of history.

    python -m bench.history [--database-url URL] [--sizes 1000,100000] [--repeats 11]

The open work is fixed: 50 open requests, each with three milestones (some overdue, some evergreen
reviews due this week), pending and sent reminders, sent and owed notices, a finished and a waiting
job; and 20 requests whose rows became old in the last hour (the hourly purge's share). History grows:
closed requests with their milestones; half closed within the retention period with their sent and
cancelled reminders, sent notices, finished job and handled webhook delivery, half closed before it
(what the purge left of them: the request and its milestones). History rows are made by the
database itself (INSERT … SELECT over a number series) and lie outside every window today's
work reads (none was created in the last week, none closed in the purge's last hour).

Each size has its own database, filled first; then each operation runs on every size in turn, run
after run (a load on the shared machine falls on all sizes alike), median of --repeats after one
turn not counted, and its SQL statements are counted:
- the digest build (DigestService.build + digest_message),
- `learnbot requests` (AdminService.list_requests, newest 50), and with `--status open`,
- an idle dispatch pass (Dispatcher.run_once with nothing due, the purge ran 30 minutes ago),
- the hourly purge pass (Housekeeping.run an hour after the last purge: 20 requests' rows go),
- a purge with no watermark (the first after an upgrade: reads what it must once; not a ratio goal).
Ratios are against the smallest size in the same run. Default sizes: 1000,100000 on SQLite;
1000,1000000 with a postgresql URL (fresh databases are made on that server and dropped after).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, func, select, text

from bot.config import load_settings
from bot.container import Services, build_services
from bot.messages.digest import digest_message
from bot.services.admin import AdminService
from bot.services.digest import PER_SECTION
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import (
    Heartbeat,
    Job,
    JobKind,
    Milestone,
    Notice,
    Reminder,
    Request,
    RequestStatus,
    WebhookDelivery,
)
from tests.standins.gitlab import FakeGitLab
from tests.standins.slack import FakeSlack

NOW = datetime(2030, 6, 4, 9, 0, tzinfo=UTC)
DAYS = 180  # LEARNBOT_RETENTION_DAYS's default
CUTOFF = NOW - timedelta(days=DAYS)
OPEN, BECAME_OLD = 50, 20
HISTORY_ID = 1000  # history request n is id HISTORY_ID + n; open work is 1..50, the purge's share 501..520
DAY = 86400


class Sql:
    """The few expressions that differ between SQLite and PostgreSQL, for INSERT … SELECT over a series."""

    def __init__(self, dialect: str):
        self.pg = dialect == "postgresql"

    def series(self) -> str:
        if self.pg:
            return "SELECT generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS n"
        return "WITH RECURSIVE c(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM c WHERE n < :hi) SELECT n FROM c"

    def ago(self, seconds: str) -> str:
        """NOW minus `seconds` (an SQL expression), as the store keeps a UTC time."""
        if self.pg:
            return f"(CAST(:now AS timestamptz) - ({seconds}) * interval '1 second')"
        return f"(datetime(:now, '-' || ({seconds}) || ' seconds') || '.000000')"

    def day_ago(self, seconds: str) -> str:
        if self.pg:
            return f"CAST(CAST(:now AS timestamp) - ({seconds}) * interval '1 second' AS date)"
        return f"date(:now, '-' || ({seconds}) || ' seconds')"

    def json(self, literal: str) -> str:
        return f"CAST('{literal}' AS json)" if self.pg else f"'{literal}'"


def _closed_ago(half: str) -> str:
    """Seconds before NOW that history request k (1, 2, …) of a half was closed: 1 a minute going back from
    a day before the cut-off (closed before it, purged), or 1 every 20 s going back from 8 days ago (kept)."""
    return f"({(DAYS + 1) * DAY} + k * 60)" if half == "purged" else f"({8 * DAY} + k * 20)"


def grow(db: Database, start: int, end: int) -> None:
    """History requests start+1 … end (an even count): odd ones closed before the cut-off, even ones after."""
    sql = Sql(db.engine.dialect.name)
    params = {"now": NOW.strftime("%Y-%m-%d %H:%M:%S+00:00")}
    with db.session() as s:
        for half, parity in (("purged", 1), ("kept", 0)):
            lo, hi = start // 2 + 1, end // 2
            series = f"SELECT n AS k, {HISTORY_ID} + 2 * n - {parity} AS rid FROM ({sql.series()}) AS series"
            closed, created = _closed_ago(half), f"({_closed_ago(half)} + {30 * DAY})"
            s.execute(text(
                "INSERT INTO requests (id, public_id, support_model, requester_id, title, answers, status, "
                "anchor_date, plan_compressed, triage_score, gitlab_iid, gitlab_url, labels, created_at, updated_at, "
                "closed_at, decision_state, decision_version, decision_scope) "
                f"SELECT rid, 'h' || CAST(rid AS TEXT), 'new-content', 'U' || CAST(k % 5000 AS TEXT), "
                f"'Old request ' || CAST(rid AS TEXT), {sql.json('{}')}, 'closed', "
                f"{sql.day_ago(f'{created} - {20 * DAY}')}, "
                f"FALSE, k % 100, rid, 'https://gitlab.example/g/p/-/issues/' || CAST(rid AS TEXT), {sql.json('[]')}, "
                f"{sql.ago(created)}, {sql.ago(closed)}, {sql.ago(closed)}, 'accepted', 1, 'ld' "
                f"FROM ({series}) AS h"), {**params, "lo": lo, "hi": hi})
            for key, position, due, done in (("needed-by", 0, f"{created} - {20 * DAY}", None),
                                             ("collaborate", 1, f"{created} - {5 * DAY}", f"{created} - {5 * DAY}"),
                                             ("evergreen-review", 2, f"{closed} - {DAY}", closed)):
                s.execute(text(
                    "INSERT INTO milestones (request_id, key, title, position, due_on, pulled_forward, done_at, "
                    "done_by) "
                    f"SELECT rid, '{key}', '{key}', {position}, {sql.day_ago(due)}, FALSE, "
                    f"{sql.ago(done) if done else 'NULL'}, NULL FROM ({series}) AS h"),
                    {**params, "lo": lo, "hi": hi})
            if half == "purged":
                continue
            by_milestone = (f"FROM ({series}) AS h JOIN milestones m ON m.request_id = h.rid AND m.key = :key")
            sent_on = f"{created} - {19 * DAY}"
            for key, due, sent, cancelled in (("needed-by", sent_on, sent_on, None),
                                              ("collaborate", f"{created} - {4 * DAY}", None, closed)):
                s.execute(text(
                    "INSERT INTO reminders (milestone_id, recipient_id, due_at, zone_checked, snoozed, attempts, "
                    "sent_at, cancelled_at, nudges) "
                    f"SELECT m.id, 'U' || CAST(k % 5000 AS TEXT), {sql.ago(due)}, TRUE, FALSE, 1, "
                    f"{sql.ago(sent) if sent else 'NULL'}, {sql.ago(cancelled) if cancelled else 'NULL'}, 0 "
                    + by_milestone), {**params, "lo": lo, "hi": hi, "key": key})
            for prefix, at in (("filed", f"{created} - 60"), ("closed", closed)):
                s.execute(text(
                    "INSERT INTO notices (key, request_id, recipient, text, due_at, attempts, sent_at, created_at) "
                    f"SELECT '{prefix}:' || CAST(rid AS TEXT), rid, 'U' || CAST(k % 5000 AS TEXT), 'hello', "
                    f"{sql.ago(at)}, 1, {sql.ago(at)}, {sql.ago(at)} FROM ({series}) AS h"),
                    {**params, "lo": lo, "hi": hi})
            s.execute(text(
                "INSERT INTO jobs (kind, request_id, due_at, attempts, finished_at, created_at) "
                f"SELECT 'file_issue', rid, {sql.ago(created)}, 1, {sql.ago(created + ' - 60')}, {sql.ago(created)} "
                f"FROM ({series}) AS h"), {**params, "lo": lo, "hi": hi})
            s.execute(text(
                "INSERT INTO webhook_deliveries (idempotency_key, event, payload, received_at, processed_at, outcome, "
                f"attempts) SELECT 'h-' || CAST(rid AS TEXT), 'Issue Hook', {sql.json('{}')}, {sql.ago(closed)}, "
                f"{sql.ago(closed)}, 'closed', 0 FROM ({series}) AS h"), {**params, "lo": lo, "hi": hi})


def settle(db: Database) -> None:
    """PostgreSQL: statistics and visibility maps as autovacuum would leave them after a bulk load."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('requests', 'id'), "
                              "(SELECT max(id) FROM requests))"))
            conn.execute(text("VACUUM ANALYZE"))
            # The load's pages written out now, not by a checkpoint in the middle of the timings (superuser).
            conn.execute(text("CHECKPOINT"))


def open_work(db: Database) -> None:
    """50 open requests: what today's views, passes and purges are about. Nothing is due at NOW."""
    today = NOW.date()
    with db.session() as s:
        for i in range(1, OPEN + 1):
            r = Request(id=i, support_model="new-content", requester_id=f"U0OPEN{i % 10}", title=f"Open <{i}> & co",
                        answers={}, status=RequestStatus.OPEN, triage_score=i, gitlab_iid=i,
                        gitlab_url=f"https://gitlab.example/g/p/-/issues/{i}",
                        anchor_date=today + timedelta(days=i % 40), created_at=NOW - timedelta(days=i % 14, hours=1),
                        updated_at=NOW, decision_state="accepted" if i % 5 else "new",
                        decision_nudged_at=None if i % 5 else NOW - timedelta(days=1))
            r.milestones = [
                Milestone(key="needed-by", title="Content needed by", position=0,
                          due_on=today + timedelta(days=i % 20 - 5)),
                Milestone(key="collaborate", title="Collaborate", position=1, due_on=today - timedelta(days=20),
                          done_at=NOW - timedelta(days=20), done_by="U0OPEN"),
                Milestone(key="evergreen-review", title="Evergreen review", position=2,
                          due_on=today + timedelta(days=i % 10)),
            ]
            s.add(r)
            s.flush()
            needed, collaborate, review = r.milestones
            s.add_all([
                Reminder(milestone_id=needed.id, recipient_id=r.requester_id, due_at=NOW + timedelta(days=1, hours=i),
                         zone_checked=True),
                Reminder(milestone_id=review.id, recipient_id=r.requester_id,
                         due_at=NOW + timedelta(days=i % 10, hours=1), zone_checked=True),
                Reminder(milestone_id=collaborate.id, recipient_id=r.requester_id, due_at=NOW - timedelta(days=21),
                         sent_at=NOW - timedelta(days=21), zone_checked=True),
                Notice(key=f"open-filed:{i}", request_id=i, recipient=r.requester_id, text="filed",
                       due_at=NOW - timedelta(days=3), sent_at=NOW - timedelta(days=3)),
                Notice(key=f"open-old:{i}", request_id=i, recipient=r.requester_id, text="long ago",
                       due_at=NOW - timedelta(days=400), sent_at=NOW - timedelta(days=400)),
                Notice(key=f"open-later:{i}", request_id=i, recipient=r.requester_id, text="later",
                       due_at=NOW + timedelta(days=2)),
                Job(kind=JobKind.FILE_ISSUE, request_id=i, due_at=NOW - timedelta(days=3),
                    finished_at=NOW - timedelta(days=3)),
                Job(kind=JobKind.SYNC_CHECKLIST, request_id=i, due_at=NOW + timedelta(days=1)),
                WebhookDelivery(idempotency_key=f"open-{i}", event="Issue Hook", payload={},
                                received_at=NOW - timedelta(hours=2), processed_at=NOW - timedelta(hours=2),
                                outcome="done"),
            ])


def became_old(db: Database) -> None:
    """The hourly purge's share: 20 requests closed half an hour before the cut-off, with a cancelled
    reminder, a sent notice, a finished job and a handled delivery each (made again before each purge)."""
    at = CUTOFF - timedelta(minutes=30)
    with db.session() as s:
        s.execute(delete(Request).where(Request.id.between(501, 500 + BECAME_OLD)))
        s.execute(delete(WebhookDelivery).where(WebhookDelivery.idempotency_key.like("today-%")))
    with db.session() as s:
        for i in range(501, 501 + BECAME_OLD):
            r = Request(id=i, support_model="new-content", requester_id="U0DONE", title="Done", answers={},
                        status=RequestStatus.CLOSED, created_at=at - timedelta(days=40), updated_at=at, closed_at=at,
                        milestones=[Milestone(key="needed-by", title="Needed by", position=0,
                                              due_on=(at - timedelta(days=20)).date())])
            s.add(r)
            s.flush()
            s.add_all([
                Reminder(milestone_id=r.milestones[0].id, recipient_id="U0DONE", due_at=at, cancelled_at=at),
                Notice(key=f"today:{i}", request_id=i, recipient="U0DONE", text="closed", due_at=at,
                       sent_at=at - timedelta(minutes=1)),
                Job(kind=JobKind.CLOSE_ISSUE, request_id=i, due_at=at, finished_at=at),
                WebhookDelivery(idempotency_key=f"today-{i}", event="Issue Hook", payload={}, received_at=at,
                                processed_at=at, outcome="closed"),
            ])


def purged_at(services: Services, when: datetime | None) -> None:
    """Say the last complete purge ran at `when` (None: never, as after an upgrade)."""
    retention = services.dispatcher.housekeeping.retention  # type: ignore[union-attr]
    with services.db.session() as s:
        s.execute(delete(Heartbeat).where(Heartbeat.name.like("retention%")))
    if when is not None and hasattr(retention, "mark_done"):  # the code before issue 16 kept no watermark
        retention.mark_done(now=when)


class Statements:
    def __init__(self, db: Database):
        self.count = 0
        event.listen(db.engine, "before_cursor_execute", self._one)

    def _one(self, *_args: Any) -> None:
        self.count += 1


@dataclass
class Operation:
    run: Callable[[], object]
    before: Callable[[], None] | None = None  # untimed, before each run
    repeats: int | None = None  # None: --repeats


def operations(services: Services) -> dict[str, Operation]:
    admin = AdminService(db=services.db)
    dispatcher = services.dispatcher
    housekeeping = dispatcher.housekeeping
    assert housekeeping is not None

    def digest() -> None:
        text_, blocks = digest_message(services.digest.build(since=NOW - timedelta(days=7), now=NOW),
                                       per_section=PER_SECTION)
        assert text_ and blocks

    def idle() -> None:
        report = dispatcher.run_once(now=NOW)
        assert report.lines()[1:] == ["  nothing due"], report.lines()

    def hourly_purge() -> None:
        report = housekeeping.run(now=NOW)
        assert report.deleted == {t: BECAME_OLD for t in ("webhook_deliveries", "jobs", "notices", "reminders")}, \
            report.deleted

    def reset(last_purge: datetime | None) -> Callable[[], None]:
        def run() -> None:
            became_old(services.db)
            purged_at(services, last_purge)
        return run

    return {
        "digest build": Operation(digest),
        "`learnbot requests`": Operation(lambda: admin.list_requests(limit=50)),
        "`learnbot requests --status open`": Operation(lambda: admin.list_requests(status="open", limit=50)),
        "idle dispatch pass": Operation(idle, lambda: purged_at(services, NOW - timedelta(minutes=30))),
        "hourly purge pass": Operation(hourly_purge, reset(NOW - timedelta(hours=1))),
        "purge with no watermark (first after upgrade)": Operation(hourly_purge, reset(None), repeats=3),
    }


Results = dict[int, dict[str, tuple[float, int]]]  # history size -> operation -> (median seconds, statements)


def measure(built: dict[int, Services], repeats: int,
            operations_of: Callable[[Services], dict[str, Operation]] | None = None) -> Results:
    """Each operation on every size in turn, run after run: a load on the machine falls on all sizes alike.

    `operations_of` (default: this bench's) gives each size's operations; bench/report.py passes its own.
    """
    counters = {size: Statements(services.db) for size, services in built.items()}
    ops = {size: (operations_of or operations)(services) for size, services in built.items()}
    results: Results = {size: {} for size in built}
    for name in ops[next(iter(built))]:
        samples: dict[int, list[float]] = {size: [] for size in built}
        counts: dict[int, int] = dict.fromkeys(built, 0)
        times = ops[next(iter(built))][name].repeats or repeats
        for turn in range(times + 1):  # the first turn warms caches and pages, and is not counted
            for size in built:
                op = ops[size][name]
                if op.before is not None:
                    op.before()
                counters[size].count = 0
                started = time.perf_counter()
                op.run()
                elapsed = time.perf_counter() - started
                if turn:
                    samples[size].append(elapsed)
                    counts[size] = max(counts[size], counters[size].count)
        for size in built:
            results[size][name] = (statistics.median(samples[size]), counts[size])
    return results


def run(urls: dict[int, str], repeats: int) -> tuple[str, Results, dict[int, float]]:
    """One database per history size, all open at once (filled first, then measured in turns)."""
    with FakeSlack() as slack, FakeGitLab() as gitlab:
        gitlab.add_project("g/p")
        built, fills = {}, {}
        for size, url in urls.items():
            upgrade(url)
            env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "SLACK_API_URL": slack.url,
                   "GITLAB_URL": gitlab.url, "GITLAB_TOKEN": gitlab.token, "GITLAB_PROJECT": "g/p",
                   "GITLAB_WEBHOOK_SECRET": "bench-hook", "DATABASE_URL": url, "LEARNBOT_RETENTION_DAYS": str(DAYS)}
            services = build_services(load_settings(env))
            started = time.perf_counter()
            open_work(services.db)
            for start in range(0, size, 200_000):  # in steps: one transaction is not a million rows wide
                grow(services.db, start, min(size, start + 200_000))
            settle(services.db)
            fills[size] = time.perf_counter() - started
            with services.db.session() as s:
                assert s.scalar(select(func.count()).select_from(Request).where(Request.id > HISTORY_ID)) == size
            built[size] = services
        dialect = next(iter(built.values())).db.engine.dialect.name
        try:
            return dialect, measure(built, repeats), fills
        finally:
            for services in built.values():
                services.close()


def table(dialect: str, results: Results, fills: dict[int, float], repeats: int,
          held: str = f"{OPEN} open requests") -> str:
    """The Markdown table of a run; `held` says what every size has besides its history."""
    sizes = list(results)
    base, top = sizes[0], sizes[-1]
    out = [f"{dialect}: {held}, history {' → '.join(f'{n:,}' for n in sizes)} requests "
           f"(filled in {', '.join(f'{fills[n]:.0f} s' for n in sizes)}); median of {repeats}, sizes in turn", "",
           "| operation | " + " | ".join(f"{n:,} history" for n in sizes) + f" | {top:,} / {base:,} | SQL statements |",
           "| --- | " + " | ".join("---:" for _ in sizes) + " | ---: | --- |"]
    for op in results[base]:
        cells = [f"{results[n][op][0] * 1000:.1f} ms" for n in sizes]
        ratio = results[top][op][0] / results[base][op][0]
        counts = " / ".join(str(results[n][op][1]) for n in sizes)
        out.append(f"| {op} | " + " | ".join(cells) + f" | {ratio:.2f}x | {counts} |")
    return "\n".join(out)


Run = Callable[[dict[int, str], int], tuple[str, Results, dict[int, float]]]


def main(doc: str | None = None, run_sizes: Run | None = None, held: str = f"{OPEN} open requests") -> None:
    """The command line of this bench, and of bench/report.py (its `doc`, `run_sizes` and `held`)."""
    parser = argparse.ArgumentParser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: new SQLite files; postgresql://…: fresh databases there")
    parser.add_argument("--sizes", help="history sizes, even (default 1000,100000; 1000,1000000 on PostgreSQL)")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    postgres = bool(args.database_url and args.database_url.startswith("postgres"))
    sizes = [int(n) for n in (args.sizes or ("1000,1000000" if postgres else "1000,100000")).split(",")]
    if postgres:
        from tests.conftest import _drop_postgres, _fresh_postgres

        server = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        urls = {size: _fresh_postgres(server) for size in sizes}
    else:
        where = args.database_url.removeprefix("sqlite:///") if args.database_url else f"{tempfile.mkdtemp()}/bench.db"
        urls = {size: f"sqlite:///{where}.{size}" for size in sizes}
    try:
        dialect, results, fills = (run_sizes or run)(urls, args.repeats)
    finally:
        if postgres:
            for url in urls.values():
                _drop_postgres(url)
    print(table(dialect, results, fills, args.repeats, held))


if __name__ == "__main__":
    main()
