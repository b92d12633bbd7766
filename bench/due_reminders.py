"""Cost of finding due reminders as stored (not due) reminders grow: O(due), not O(all rows).

    python -m bench.due_reminders [--database-url URL] [--sizes 1000,100000] [--due 100]

For each size it stores that many future reminders plus `--due` due ones, then times
`claim_due` (the dispatcher's query, lease and all, rolled back each time). The baseline in the
same run is the same query with the partial index dropped. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, insert, select, text

from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Milestone, Reminder, Request, RequestStatus
from bot.store.queues import REMINDERS

NOW = datetime(2027, 2, 15, 14, 0, tzinfo=UTC)


def fill(db: Database, stored: int, due: int) -> None:
    with db.session() as s:
        s.execute(delete(Reminder))
        milestone_id = s.scalar(select(Milestone.id))
        if milestone_id is None:
            request = Request(support_model="content-review", requester_id="U0", title="bench", answers={},
                              status=RequestStatus.OPEN, created_at=NOW, updated_at=NOW)
            request.milestones.append(Milestone(key="k", title="Step", position=0, due_on=date(2027, 2, 15)))
            s.add(request)
            s.flush()
            milestone_id = request.milestones[0].id
        rows = [{"milestone_id": milestone_id, "recipient_id": f"U{i}", "zone_checked": True, "attempts": 0,
                 "due_at": NOW + timedelta(days=1 + i % 365) if i >= due else NOW - timedelta(minutes=i)}
                for i in range(stored + due)]
        # Sent reminders stay in the table too: a year of history is most of the rows.
        for row in rows[due + stored // 2:]:
            row["sent_at"], row["due_at"] = NOW - timedelta(days=1), NOW - timedelta(days=2)
        for start in range(0, len(rows), 5000):
            s.execute(insert(Reminder), rows[start:start + 5000])
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def time_claim(db: Database, due: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        with db.engine.connect() as conn:
            from sqlalchemy.orm import Session

            with Session(bind=conn) as s:
                started = time.perf_counter()
                claimed = REMINDERS.claim(s, now=NOW, limit=due)
                s.flush()
                samples.append(time.perf_counter() - started)
                assert len(claimed) == due, len(claimed)
                s.rollback()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--sizes", default="1000,100000", help="stored reminders, comma-separated")
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(url)
    db = Database(url)
    sizes = [int(n) for n in args.sizes.split(",")]
    results: dict[tuple[str, int], float] = {}
    for size in sizes:
        fill(db, size, args.due)
        results[("index", size)] = time_claim(db, args.due, args.repeats)
        with db.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_reminders_pending_due"))
        results[("no index", size)] = time_claim(db, args.due, args.repeats)
        with db.engine.begin() as conn:
            conn.execute(text("CREATE INDEX ix_reminders_pending_due ON reminders (due_at) "
                              "WHERE sent_at IS NULL AND cancelled_at IS NULL"))
    small, large = sizes[0], sizes[-1]
    print(f"database: {db.engine.dialect.name}; {args.due} due reminders; median of {args.repeats}")
    print("| stored reminders | claim_due with index | without (baseline) | baseline / index |")
    print("| ---: | ---: | ---: | ---: |")
    for size in sizes:
        with_index, without = results[("index", size)], results[("no index", size)]
        print(f"| {size:,} | {with_index * 1000:.2f} ms | {without * 1000:.2f} ms | {without / with_index:.1f}x |")
    growth = results[("index", large)] / results[("index", small)]
    base_growth = results[("no index", large)] / results[("no index", small)]
    print(f"\n{large // small}x more stored rows: claim_due takes {growth:.2f}x as long with the index, "
          f"{base_growth:.2f}x without")
    db.dispose()


if __name__ == "__main__":
    main()
