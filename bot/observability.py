"""What an operator sees: gauges read from the database at scrape time, readiness, and log set-up.

The worker runs in another process, so its backlog is read from the tables it works from, with
bounded queries on the partial indexes the worker itself uses (one COUNT or MIN each).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.domain.decisions import State
from bot.store.db import Database
from bot.store.models import Heartbeat, Job, Notice, Reminder, Request, RequestStatus, WebhookDelivery
from bot.store.outage import is_outage

log = logging.getLogger(__name__)

DISPATCH_HEARTBEAT = "dispatch"


# --- the gauges -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Backlog:
    requests_filing: int
    requests_failed: int
    jobs_due: int
    oldest_due_job_age: float
    reminders_due: int
    oldest_due_reminder_age: float
    webhooks_pending: int
    oldest_webhook_age: float
    notices_pending: int
    notices_failed: int
    oldest_pending_notice_age: float
    last_dispatch: datetime | None
    requests_undecided: int | None
    oldest_undecided_age: float | None


def _age(now: datetime, oldest: datetime | None) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


def requests_waiting_for_decision(session: Session, *, now: datetime) -> tuple[int, float] | None:
    """Requests waiting for their deciders (SPEC §12: new, a question asked, changes requested) and the
    oldest one's age in seconds. Waitlisted ones are decided (to wait) and are not counted."""
    waiting = [State.NEW.value, State.NEEDS_INFO.value, State.CHANGES_REQUESTED.value]
    count, oldest = session.execute(
        select(func.count(), func.min(Request.created_at)).where(
            Request.status.in_([RequestStatus.FILING, RequestStatus.OPEN]), Request.decision_state.in_(waiting))
    ).one()
    return int(count or 0), _age(now, oldest)


def read_backlog(session: Session, *, now: datetime) -> Backlog:
    """Each figure is one indexed COUNT or MIN (ix_requests_status, the *_pending_due partial indexes)."""
    def by_status(status: RequestStatus) -> int:
        return session.scalar(select(func.count()).select_from(Request).where(Request.status == status)) or 0

    due_jobs = select(func.count(), func.min(Job.due_at)).where(Job.finished_at.is_(None), Job.due_at <= now)
    jobs_due, oldest_job = session.execute(due_jobs).one()
    due_reminders = select(func.count(), func.min(Reminder.due_at)).where(
        Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None), Reminder.due_at <= now)
    reminders_due, oldest_reminder = session.execute(due_reminders).one()
    pending_hooks = select(func.count(), func.min(WebhookDelivery.received_at)).where(
        WebhookDelivery.processed_at.is_(None))
    webhooks_pending, oldest_hook = session.execute(pending_hooks).one()
    pending_notices = select(func.count(), func.min(Notice.due_at)).where(
        Notice.sent_at.is_(None), Notice.failed_at.is_(None), Notice.due_at <= now)
    notices_pending, oldest_notice = session.execute(pending_notices).one()
    notices_failed = session.scalar(select(func.count()).select_from(Notice).where(Notice.failed_at.is_not(None)))
    beat = session.get(Heartbeat, DISPATCH_HEARTBEAT)
    undecided = requests_waiting_for_decision(session, now=now)
    return Backlog(
        requests_filing=by_status(RequestStatus.FILING), requests_failed=by_status(RequestStatus.FAILED),
        jobs_due=jobs_due, oldest_due_job_age=_age(now, oldest_job),
        reminders_due=reminders_due, oldest_due_reminder_age=_age(now, oldest_reminder),
        webhooks_pending=webhooks_pending, oldest_webhook_age=_age(now, oldest_hook),
        notices_pending=notices_pending, notices_failed=notices_failed or 0,
        oldest_pending_notice_age=_age(now, oldest_notice),
        last_dispatch=beat.at if beat is not None else None,
        requests_undecided=undecided[0] if undecided else None,
        oldest_undecided_age=undecided[1] if undecided else None,
    )


_GAUGES: list[tuple[str, str, str]] = [
    # (metric name, Backlog field, help)
    ("learnbot_requests_waiting_to_file", "requests_filing", "Requests stored whose GitLab issue is not open yet"),
    ("learnbot_requests_failed", "requests_failed", "Requests GitLab refused for good (status failed)"),
    ("learnbot_jobs_due", "jobs_due", "Background jobs (GitLab writes) due and not finished"),
    ("learnbot_oldest_due_job_age_seconds", "oldest_due_job_age", "How long the oldest due job has waited"),
    ("learnbot_reminders_due", "reminders_due", "Reminders due and not sent"),
    ("learnbot_oldest_due_reminder_age_seconds", "oldest_due_reminder_age",
     "How long the oldest due, unsent reminder has waited"),
    ("learnbot_webhook_deliveries_pending", "webhooks_pending", "GitLab webhook deliveries stored, not acted on"),
    ("learnbot_oldest_webhook_delivery_age_seconds", "oldest_webhook_age",
     "How long the oldest unhandled webhook delivery has waited"),
    ("learnbot_notices_pending", "notices_pending", "Messages owed to people, due and not sent"),
    ("learnbot_notices_failed", "notices_failed", "Messages Slack refused for good"),
    ("learnbot_oldest_pending_notice_age_seconds", "oldest_pending_notice_age",
     "How long the oldest due, unsent message has waited"),
    ("learnbot_requests_waiting_for_decision", "requests_undecided", "Requests waiting for a decision"),
    ("learnbot_oldest_undecided_request_age_seconds", "oldest_undecided_age",
     "How long the oldest request waiting for a decision has waited"),
]


class DatabaseCollector(Collector):
    """Registered once in the web process; each scrape opens one short read-only transaction."""

    def __init__(self, db: Database, clock: Callable[[], datetime]):
        self.db = db
        self.clock = clock

    def describe(self) -> list[Any]:
        return []  # read at scrape time only: registering must not touch the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        up = GaugeMetricFamily("learnbot_database_up", "1 if /metrics could read the database")
        try:
            with self.db.session() as session:
                backlog = read_backlog(session, now=now)
        except SQLAlchemyError as exc:
            if not is_outage(exc):  # an outage is logged once, when it starts (bot/store/outage.py)
                log.error("metrics: database unreadable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, attr, help_text in _GAUGES:
            value = getattr(backlog, attr)
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=float(value))
        if backlog.last_dispatch is not None:
            yield GaugeMetricFamily("learnbot_last_dispatch_timestamp_seconds",
                                    "Unix time of the last completed dispatch pass (the worker's heartbeat)",
                                    value=backlog.last_dispatch.timestamp())


def record_heartbeat(db: Database, *, now: datetime, name: str = DISPATCH_HEARTBEAT) -> None:
    """One upsert; any number of workers may write it, and the newest pass wins."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Heartbeat).values(name=name, at=now)
    stmt = stmt.on_conflict_do_update(index_elements=[Heartbeat.name], set_={"at": stmt.excluded.at},
                                      where=Heartbeat.at < stmt.excluded.at)
    with db.session() as session:
        session.execute(stmt)


# --- readiness ------------------------------------------------------------------------------------

def readiness(db: Database) -> tuple[bool, str]:
    """Ready when the database answers and is at the schema this code needs."""
    from bot.store.migrate import current_head

    try:
        with db.engine.connect() as conn:
            from alembic.runtime.migration import MigrationContext

            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        return False, f"database unreachable ({type(exc).__name__})"
    head = current_head()
    if current != head:
        return False, f"database schema is {current or 'empty'}, this learnbot needs {head}: run `learnbot migrate`"
    return True, "ok"


# --- logs -----------------------------------------------------------------------------------------

# Anything shaped like a credential is masked before a line is written, whoever logged it.
_SECRET = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|glpat-[A-Za-z0-9_-]+|gldt-[A-Za-z0-9_-]+"
    r"|(?i:(?:private[-_]token|authorization|x-gitlab-token|token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+)"
)


def redact(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        whole = m.group(0)
        for prefix in ("xox", "xapp-", "glpat-", "gldt-"):
            if whole.startswith(prefix):
                return whole[: whole.index("-") + 1] + "***"
        key = re.match(r"(?i)[^:=]*[:=]\s*[\"']?", whole)
        return (key.group(0) if key else "") + "***"
    return _SECRET.sub(mask, text)


# Fields a log call may add with extra={...}: the request, the Slack user, the job.
EVENT_FIELDS = ("event", "request_id", "slack_user", "job_id", "delivery_id", "notice_id", "reminder_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        for name in EVENT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        # Masked as the line is written: whatever handler ran first, this output carries no token.
        return redact(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{n}={getattr(record, n)}" for n in EVENT_FIELDS[1:] if getattr(record, n, None) is not None)
        return redact(f"{text} [{fields}]" if fields else text)


def configure_logging(*, log_format: str = "text", verbose: bool = False, stream: Any = None) -> None:
    """One handler on the root logger: text for people, json (one object a line) for machines."""
    import time

    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.set_name("learnbot")
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier call (Settings re-read the format)
        if old.get_name() == "learnbot":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Libraries' debug output carries request bodies and headers: never above WARNING, even with -v.
    for noisy in ("urllib3", "slack_sdk", "slack_bolt", "gitlab", "waitress", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)
