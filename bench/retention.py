"""A retention purge over 1,000,000 old rows holds no long lock (issue 12, LEARNBOT_RETENTION_DAYS).

    python -m bench.retention [--database-url URL] [--rows 1000000] [--batch 1000]

Stores `--rows` handled webhook deliveries older than the retention period (the largest table),
then runs RetentionService.purge until they are gone, batch by batch, as dispatch passes would.
Meanwhile a writer thread stores new deliveries the way the web process does (one short
transaction each) and times every insert. Baseline in the same run: the same writer with no purge.
Prints a Markdown table: batch transaction times (how long a lock is held) and the writer's
latency during the purge against the baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select, text

from bot.services.retention import RetentionService
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import WebhookDelivery

NOW = datetime(2030, 6, 4, 3, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)


def fill(db: Database, rows: int) -> None:
    """Rows made by the database itself (INSERT … SELECT over a number series): fast on both dialects."""
    with db.session() as s:
        s.add(WebhookDelivery(idempotency_key="seed", event="Issue Hook", payload={"object_kind": "issue"},
                              received_at=OLD, processed_at=OLD, outcome="done"))
    series = ("SELECT generate_series(1, :n) AS x" if db.engine.dialect.name == "postgresql" else
              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n) SELECT x FROM c")
    with db.session() as s:
        s.execute(text(
            "INSERT INTO webhook_deliveries (idempotency_key, event, payload, received_at, processed_at, outcome) "
            f"SELECT 'bench-' || CAST(series.x AS TEXT), seed.event, seed.payload, seed.received_at, "
            f"seed.processed_at, seed.outcome FROM ({series}) AS series "
            "CROSS JOIN (SELECT * FROM webhook_deliveries WHERE idempotency_key = 'seed') AS seed"), {"n": rows - 1})
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE webhook_deliveries"))


def _write(url: str, stop: Any, ready: Any, out: Any) -> None:
    """Another process, as the web process is: store a delivery every 5 ms, timing each transaction."""
    db = Database(url)
    latencies = []
    while not stop.is_set() or not latencies:
        started = time.perf_counter()
        with db.session() as s:
            s.add(WebhookDelivery(idempotency_key=f"live-{uuid.uuid4().hex}", event="Issue Hook", payload={},
                                  received_at=NOW))
        latencies.append(time.perf_counter() - started)
        ready.set()
        time.sleep(0.005)
    out.send(latencies)
    db.dispose()


class Writer:
    def __init__(self, url: str):
        ctx = multiprocessing.get_context("spawn")
        self.stop, self.ready = ctx.Event(), ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_write, args=(url, self.stop, self.ready, send), daemon=True)
        self.latencies: list[float] = []

    def start(self) -> None:
        self._process.start()
        self.ready.wait(120)  # the child imports learnbot first; its first insert is not part of the measure

    def join(self) -> None:
        self.stop.set()
        self.latencies = self._recv.recv()[1:]
        self._process.join()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p99(values: list[float]) -> float:
    return sorted(values)[max(int(len(values) * 0.99) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench-retention.db"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        s.execute(WebhookDelivery.__table__.delete())

    started = time.perf_counter()
    fill(db, args.rows)
    filled = time.perf_counter() - started

    baseline = Writer(url)
    baseline.start()
    time.sleep(args.baseline_seconds)
    baseline.join()

    # Each purge batch is one transaction: time it from BEGIN to COMMIT.
    batches: list[float] = []
    began: dict[int, float] = {}
    event.listen(db.engine, "begin", lambda conn: began.__setitem__(id(conn), time.perf_counter()))
    event.listen(db.engine, "commit", lambda conn: batches.append(time.perf_counter() - began.pop(id(conn), 0.0)))
    service = RetentionService(db=db, days=180)
    writer = Writer(url)
    writer.start()
    passes, deleted = 0, 0
    started = time.perf_counter()
    while True:
        report = service.purge(now=NOW, batch=args.batch, max_batches=20)  # one dispatch pass's share
        passes += 1
        deleted += report.total
        if not report.more:
            break
    purge_seconds = time.perf_counter() - started
    writer.join()
    with db.session() as s:
        left = s.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.processed_at.is_not(None)))
    db.dispose()

    print(f"{db.engine.dialect.name}: {args.rows:,} handled webhook deliveries older than 180 days, "
          f"stored in {filled:.1f} s; purge batches of {args.batch}, 20 per dispatch pass\n")
    print("| rows purged | passes | batches | batch p50 | batch max (longest lock) | whole purge |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {deleted:,} | {passes} | {len(batches)} | {_ms(statistics.median(batches))} | {_ms(max(batches))} "
          f"| {purge_seconds:.1f} s |")
    print()
    print("| web-process insert | during the purge | baseline (no purge) | during / baseline |")
    print("| --- | ---: | ---: | ---: |")
    for name, pick in (("median", statistics.median), ("p99", _p99), ("max", max)):
        during, base = pick(writer.latencies), pick(baseline.latencies)
        print(f"| {name} | {_ms(during)} | {_ms(base)} | {during / base:.1f}x |")
    print(f"\nleft after the purge: {left} old rows; inserts during the purge: {len(writer.latencies)}")
    assert left == 0, "the purge left old rows"


if __name__ == "__main__":
    main()
