"""The L&D report costs the same with 1k or 1M requests of history (issue 17): it reads only its period.

    python -m bench.report [--database-url URL] [--sizes 1000,100000] [--repeats 11]

The report is of August 2030 (and July beside it). What the two months hold is fixed: 60 requests filed
in them (three support models, two audiences), decided over the days after (accepted, waitlisted,
declined, asked), with plans whose steps fall due in the months and half of them launched, evergreen
reviews and a retired content. History grows: the closed requests of bench/history.py (with their
milestones, reminders, notices, jobs and webhook deliveries) and a decision for each, all filed, decided,
due and closed before July. Each size has its own database, filled first; then each operation runs on
every size in turn, median of --repeats after one turn not counted, with its SQL statements counted:
- the report (ReportService.build: both periods, every section),
- the monthly post's work before Slack (the report, its Block Kit summary, the chart's PNG and the CSV).
Ratios are against the smallest size in the same run. Default sizes: 1000,100000 on SQLite;
1000,1000000 with a postgresql URL (fresh databases are made on that server and dropped after).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, text

from bench.history import HISTORY_ID, Operation, Results, grow, measure, settle
from bench.history import main as history_main
from bot.config import load_settings
from bot.container import Services, build_services
from bot.domain.report import Period
from bot.messages.report import report_summary
from bot.services.report_chart import render
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import DecisionEvent, Milestone, Request, RequestNote, RequestStatus
from tests.standins.gitlab import FakeGitLab
from tests.standins.slack import FakeSlack

REPORTED = Period(date(2030, 8, 1), date(2030, 8, 31))
REPORT_NOW = datetime(2030, 9, 1, 9, 0, tzinfo=UTC)
PERIOD_REQUESTS = 60
MODELS = ("new-content", "new-pathway", "live-learning")
STATES = ("accepted", "waitlisted", "declined", "needs-info")


def period_work(db: Database) -> None:
    """60 requests filed in July and August 2030, their decisions, steps, reviews and one retired content."""
    first = datetime(2030, 7, 1, 10, 0, tzinfo=UTC)
    with db.session() as s:
        for i in range(1, PERIOD_REQUESTS + 1):
            filed = first + timedelta(days=i % 60, hours=i % 7)
            state = STATES[i % 4]
            decided = filed + timedelta(days=1 + i % 9)
            anchor = (filed + timedelta(days=20 + i % 10)).date()
            audience = ["partners"] if i % 2 else ["field"]
            r = Request(id=i, support_model=MODELS[i % 3], requester_id=f"U0PER{i % 10}", title=f"Period {i}",
                        answers={"audience": audience}, status=RequestStatus.OPEN if i % 5 else RequestStatus.CLOSED,
                        anchor_date=anchor, created_at=filed, updated_at=decided, decision_state=state,
                        decision_version=1, decided_by="U0ADMIN", decided_at=decided, decision_scope="ld",
                        closed_at=None if i % 5 else REPORT_NOW + timedelta(days=2))
            r.milestones = [
                Milestone(key="collaborate", title="Collaborate", position=0, due_on=anchor - timedelta(days=7),
                          done_at=datetime.combine(anchor - timedelta(days=7 - i % 3), datetime.min.time(), UTC)
                          if i % 2 else None),
                Milestone(key="launch", title="Launch", position=1, due_on=anchor,
                          done_at=datetime.combine(anchor, datetime.min.time(), UTC) if i % 2 else None),
                Milestone(key="evergreen-review", title="Evergreen review", position=2,
                          due_on=(filed + timedelta(days=25)).date(),
                          done_at=filed + timedelta(days=26) if i % 3 else None),
            ]
            s.add(r)
            s.flush()
            s.add(DecisionEvent(request_id=i, version=1, kind="asked" if state == "needs-info" else "decided",
                                state=state, actor="U0ADMIN", text=None if state == "accepted" else f"Reason {i}",
                                created_at=decided))
        s.add(RequestNote(request_id=2, kind="retire", body="Retire it", created_by="U0ADMIN",
                          created_at=datetime(2030, 8, 20, tzinfo=UTC)))


def history_decisions(db: Database) -> None:
    """One decision per history request, a day after it was filed (long before July 2030)."""
    with db.session() as s:
        s.execute(text(
            "INSERT INTO decision_events (request_id, version, kind, state, actor, text, created_at) "
            "SELECT id, 1, 'decided', 'accepted', 'U0ADMIN', NULL, created_at FROM requests WHERE id > :first"),
            {"first": HISTORY_ID})


def operations(services: Services) -> dict[str, Operation]:
    names = {m.key: m.name for m in services.catalog.catalog.models}

    def build() -> None:
        report = services.report.build(REPORTED, now=REPORT_NOW)
        assert report["received"]["total"] > 0 and report["previous"]["received"]["total"] > 0, report["received"]

    def post_work() -> None:
        report = services.report.build(REPORTED, now=REPORT_NOW)
        text_, blocks = report_summary(report, title="L&D report — August 2030", names=names)
        png = render(report["weekly"], names=names, title="L&D report — August 2030")
        assert text_ and blocks and png[:4] == b"\x89PNG" and services.report.csv_text(report)

    return {"report (both periods, every section)": Operation(build),
            "monthly post's work before Slack (report, blocks, chart PNG, CSV)": Operation(post_work)}


def run(urls: dict[int, str], repeats: int) -> tuple[str, Results, dict[int, float]]:
    with FakeSlack() as slack, FakeGitLab() as gitlab:
        gitlab.add_project("g/p")
        built, fills = {}, {}
        for size, url in urls.items():
            upgrade(url)
            env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "SLACK_API_URL": slack.url,
                   "GITLAB_URL": gitlab.url, "GITLAB_TOKEN": gitlab.token, "GITLAB_PROJECT": "g/p",
                   "GITLAB_WEBHOOK_SECRET": "bench-hook", "DATABASE_URL": url}
            services = build_services(load_settings(env))
            started = time.perf_counter()
            period_work(services.db)
            for start in range(0, size, 200_000):  # in steps: one transaction is not a million rows wide
                grow(services.db, start, min(size, start + 200_000))
            history_decisions(services.db)
            settle(services.db)
            fills[size] = time.perf_counter() - started
            with services.db.session() as s:
                assert s.scalar(select(func.count()).select_from(Request).where(Request.id > HISTORY_ID)) == size
                latest = s.scalar(select(func.max(Request.created_at)).where(Request.id > HISTORY_ID))
                assert latest is None or latest < datetime(2030, 7, 1, tzinfo=UTC)  # history is outside both periods
            built[size] = services
        dialect = next(iter(built.values())).db.engine.dialect.name
        try:
            return dialect, measure(built, repeats, operations), fills
        finally:
            for services in built.values():
                services.close()


def main() -> None:
    history_main(__doc__, run, f"{PERIOD_REQUESTS} requests in the two months")


if __name__ == "__main__":
    main()
