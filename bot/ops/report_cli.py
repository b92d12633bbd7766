"""`learnbot report`: the L&D leader's report for a period, as a table (default), JSON (the contract other
tools read, docs/report.md) or CSV. Reads the database only; exit 2 with one line for a bad date."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from bot.catalog import LoadedCatalog
    from bot.config import Settings


def add_command(sub: Any) -> None:
    report = sub.add_parser(
        "report", help="the L&D report for a period (default: the last full month), beside the period before",
        description="Requests received (by support model and audience), decisions and days to decide, launches, "
                    "milestones on time, capacity and waitlists at the period's end, evergreen reviews, outcomes, "
                    "satisfaction and similar requests, each beside the period of the same length before it. "
                    "Dates are whole days in LEARNBOT_TIMEZONE, both ends included. Exit 2 for a bad date or "
                    "--from after --to.")
    report.add_argument("--from", dest="start", metavar="DATE",
                        help="first day, YYYY-MM-DD (default: the 1st of the last full month, or of --to's month)")
    report.add_argument("--to", dest="end", metavar="DATE",
                        help="last day, YYYY-MM-DD (default: the last day of the last full month; today with --from)")
    form = report.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object, the contract in docs/report.md")
    form.add_argument("--csv", action="store_true", help="CSV: metric, this period, the period before")


def run(args: argparse.Namespace, settings: Settings, catalog: LoadedCatalog, *, out: TextIO | None = None,
        now: datetime | None = None) -> int:
    from bot.domain.report import ReportDateError
    from bot.services.report import ReportService, asked_period
    from bot.store.db import Database
    from bot.store.migrate import ensure_current
    from bot.store.models import utcnow

    out = out or sys.stdout
    now = now or utcnow()
    try:
        period = asked_period(args.start, args.end, now=now, zone=settings.timezone)
    except ReportDateError as exc:
        print(f"learnbot: error: {exc}", file=sys.stderr)
        return 2
    ensure_current(settings.database_url)
    db = Database(settings.database_url)
    service = ReportService(db=db, catalog=catalog, zone=settings.timezone)
    try:
        built = service.build(period, now=now)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(built, indent=2, ensure_ascii=False), file=out)
    elif args.csv:
        out.write(service.csv_text(built))
    else:
        print(f"L&D report, {period.label()} (beside {period.previous().label()})", file=out)
        out.write(service.table_text(built))
    return 0
