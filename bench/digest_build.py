"""The whole digest (database queries + Block Kit) as open requests grow: 100 vs 10,000.

    python -m bench.digest_build [--database-url URL] [--sizes 100,10000] [--repeats 7]

Each size stores that many open requests (all new since the last digest, all scored, half
launching within four weeks, each with an overdue step) and times DigestService.build +
digest_message. The baseline is the smallest size in the same run. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select

from bot.catalog import load_catalog
from bot.messages.digest import digest_message
from bot.services.digest import PER_SECTION, DigestService
from bot.services.overview import OverviewService
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Milestone, Request, RequestStatus

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fill(db: Database, count: int) -> None:
    with db.session() as s:
        s.execute(delete(Milestone))
        s.execute(delete(Request))
    rows = [{"public_id": f"p{i}", "support_model": "new-content", "requester_id": f"U{i % 50:04d}",
             "title": f"Request <{i}> & more", "answers": {}, "status": RequestStatus.OPEN, "labels": [],
             "triage_score": i % 100, "gitlab_iid": i + 1, "gitlab_url": f"https://gitlab.example/g/p/-/issues/{i + 1}",
             "anchor_date": (NOW + timedelta(days=i % 56)).date(), "plan_compressed": False,
             "created_at": NOW - timedelta(hours=1 + i % 100), "updated_at": NOW} for i in range(count)]
    with db.session() as s:
        for start in range(0, count, 2000):
            s.execute(insert(Request), rows[start:start + 2000])
        ids = list(s.scalars(select(Request.id)))
        s.execute(insert(Milestone), [{"request_id": rid, "key": "needed-by", "title": "Content needed by",
                                       "position": 0, "due_on": (NOW - timedelta(days=1 + rid % 9)).date(),
                                       "pulled_forward": False} for rid in ids])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(url)
    db = Database(url)
    catalog = load_catalog()
    service = DigestService(db=db, catalog=catalog, overview=OverviewService(db=db, catalog=catalog),
                            slack=None, channel="C0", cron="0 9 * * 1", zone=ZoneInfo("UTC"),  # type: ignore[arg-type]
                            gitlab_url="https://gitlab.example", gitlab_project="g/p")
    sizes = [int(n) for n in args.sizes.split(",")]
    timings = {}
    for size in sizes:
        fill(db, size)
        samples = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            text, blocks = digest_message(service.build(since=NOW - timedelta(days=7), now=NOW),
                                          per_section=PER_SECTION)
            samples.append(time.perf_counter() - started)
            assert len(blocks) <= 50 and text
        timings[size] = statistics.median(samples)
    base = timings[sizes[0]]
    print(f"database: {db.engine.dialect.name}; median of {args.repeats}")
    print("| open requests | build + render | / smallest (baseline) |")
    print("| ---: | ---: | ---: |")
    for size in sizes:
        print(f"| {size:,} | {timings[size] * 1000:.1f} ms | {timings[size] / base:.2f}x |")
    db.dispose()


if __name__ == "__main__":
    main()
