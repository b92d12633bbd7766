"""A dispatch pass rehearsed: what would be due at a time ahead of the real clock, changing nothing (SPEC §15).

`learnbot dispatch --now <later than now>` (or `--dry-run`) must not send DMs weeks early, purge by
a date that has not come, or write a heartbeat in the future. This reads what the pass would claim
at that time with the pass's own queries (SELECTs only, in one transaction) and says it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.services.digest import DigestService
from bot.services.feedback import FeedbackService
from bot.services.retention import RetentionService, purge_candidates
from bot.store.db import Database
from bot.store.models import Milestone, WebhookDelivery
from bot.store.queues import JOBS, NOTICES, REMINDERS, Queue

SHOWN = 20  # items named per kind; the rest are counted


@dataclass
class Rehearsal:
    at: datetime
    real: datetime
    jobs: list[tuple[str, int]] = field(default_factory=list)  # (kind, request id), oldest due first
    jobs_total: int = 0
    reminders: list[tuple[int, str]] = field(default_factory=list)  # (request id, recipient)
    reminders_total: int = 0
    notices: Counter[str] = field(default_factory=Counter)  # recipient -> messages due
    webhooks_pending: int = 0
    digest: tuple[str, datetime] | None = None
    purge: dict[str, int] = field(default_factory=dict)
    checkins: list[tuple[int, str]] = field(default_factory=list)  # (request id, "ask" | "nudge")

    def lines(self) -> list[str]:
        out = [f"rehearsal of a dispatch at {self.at.isoformat()} (the real time is {self.real.isoformat()}): "
               "nothing is sent, written or purged"]
        for kind, request_id in self.jobs:
            out.append(f"  request {request_id}: would run {kind}")
        if self.jobs_total > len(self.jobs):
            out.append(f"  … and {self.jobs_total - len(self.jobs)} more GitLab or Slack jobs")
        if self.webhooks_pending:
            out.append(f"  GitLab events: would act on {self.webhooks_pending} stored deliveries")
        for request_id, recipient in self.reminders:
            out.append(f"  request {request_id}: would remind {recipient}")
        if self.reminders_total > len(self.reminders):
            out.append(f"  … and {self.reminders_total - len(self.reminders)} more reminders")
        for request_id, step in self.checkins:
            out.append(f"  request {request_id}: would {step} its requester about the outcome")
        for recipient, n in sorted(self.notices.items()):
            out.append(f"  would send {n} message{'s' if n > 1 else ''} to {recipient}")
        if self.digest is not None:
            out.append(f"  digest to {self.digest[0]}: would post the period from {self.digest[1].isoformat()}")
        if self.purge:
            rows = ", ".join(f"{n} {t}" for t, n in sorted(self.purge.items()))
            out.append(f"  retention: would purge {rows} (past the cut-off; a pass takes up to 20,000)")
        if len(out) == 1:
            out.append("  nothing due")
        return out


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.limit(None).order_by(None).subquery())) or 0)


def _due(queue: Queue, at: datetime) -> Any:
    """What a pass at `at` would claim, in its order (read only: no lock, no lease)."""
    return queue.claimable(at).order_by(*queue.order())


def rehearse(db: Database, *, at: datetime, real: datetime, digest: DigestService,
             retention: RetentionService | None, feedback: FeedbackService | None = None) -> Rehearsal:
    report = Rehearsal(at=at, real=real)
    with db.session() as s:
        due_jobs = _due(JOBS, at)
        report.jobs = [(j.kind.value, j.request_id) for j in s.scalars(due_jobs.limit(SHOWN))]
        report.jobs_total = _count(s, due_jobs)
        due_reminders = _due(REMINDERS, at).limit(SHOWN)
        shown = list(s.scalars(due_reminders))
        milestones = {m.id: m.request_id for m in s.scalars(
            select(Milestone).where(Milestone.id.in_([r.milestone_id for r in shown])))}
        report.reminders = [(milestones.get(r.milestone_id, 0), r.recipient_id) for r in shown]
        report.reminders_total = _count(s, due_reminders)
        report.notices = Counter(n.recipient for n in s.scalars(_due(NOTICES, at)))
        report.webhooks_pending = int(s.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.processed_at.is_(None))) or 0)
        if feedback is not None:
            report.checkins = feedback.rehearse(s, at=at)
        if retention is not None:
            report.purge = {table: n for table, n in purge_candidates(s, retention.cutoff(at)).items() if n}
    report.digest = digest.due(now=at)
    return report
