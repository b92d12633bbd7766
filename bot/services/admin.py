"""Operator commands on stored requests: list, show the whole timeline, retry, cancel (no SQL needed).

Each change is planned first (`plan_retry`, `plan_cancel` say in words what will happen), then
applied in one transaction, so the CLI can show the plan and ask before it acts.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.services.reminders import ReminderService
from bot.store import jobs
from bot.store.db import Database
from bot.store.models import Job, JobKind, Milestone, Notice, Reminder, Request, RequestStatus, WebhookDelivery
from bot.store.queues import JOBS

log = logging.getLogger(__name__)


class UnknownRequest(LookupError):
    pass


@dataclass(frozen=True)
class RequestRow:
    id: int
    public_id: str
    status: str
    model: str
    title: str
    requester: str
    created_at: str
    issue: str | None
    error: str | None


@dataclass(frozen=True)
class Event:
    at: str | None  # ISO time; None for something that has not happened yet (a pending job)
    what: str
    detail: str = ""


@dataclass
class Timeline:
    request: RequestRow
    events: list[Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"request": asdict(self.request), "events": [asdict(e) for e in self.events]}


@dataclass(frozen=True)
class Plan:
    request_id: int
    steps: list[str]  # what will happen, in words; empty: nothing to do
    reason: str = ""  # why there is nothing to do (or why it is refused)

    @property
    def empty(self) -> bool:
        return not self.steps


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _row(r: Request) -> RequestRow:
    return RequestRow(id=r.id, public_id=r.public_id, status=r.status.value, model=r.support_model, title=r.title,
                      requester=r.requester_id, created_at=_iso(r.created_at) or "", issue=r.gitlab_url,
                      error=r.filing_error)


def _find(s: Session, ref: str | int) -> Request:
    text = str(ref).strip()
    query = select(Request).options(selectinload(Request.milestones).selectinload(Milestone.reminders))
    query = query.where(Request.id == int(text)) if text.isdigit() else query.where(Request.public_id == text)
    request = s.scalars(query).first()
    if request is None:
        raise UnknownRequest(f"no request {text!r}: `learnbot requests` lists them")
    return request


class AdminService:
    def __init__(self, *, db: Database):
        self.db = db

    # --- reading ---------------------------------------------------------------------------------

    def list_requests(self, *, status: str | None = None, model: str | None = None,
                      limit: int = 50) -> list[RequestRow]:
        query = select(Request).order_by(Request.created_at.desc(), Request.id.desc()).limit(limit)
        if status:
            query = query.where(Request.status == RequestStatus(status))
        if model:
            query = query.where(Request.support_model == model)
        with self.db.session() as s:
            return [_row(r) for r in s.scalars(query)]

    def timeline(self, ref: str | int) -> Timeline:
        with self.db.session() as s:
            request = _find(s, ref)
            events: list[Event] = [Event(_iso(request.created_at), "stored",
                                         f"{request.support_model} by {request.requester_id}: {request.title}")]
            for job in s.scalars(select(Job).where(Job.request_id == request.id)):
                events.extend(_job_events(job))
            if request.gitlab_url:
                events.append(Event(None, "issue", f"#{request.gitlab_iid} {request.gitlab_url}"))
            for notice in s.scalars(select(Notice).where(Notice.request_id == request.id)):
                events.append(_notice_event(notice))
            for m in request.milestones:
                if m.done_at:
                    events.append(Event(_iso(m.done_at), "milestone done", f"{m.title} (by {m.done_by or '?'})"))
                for r in m.reminders:
                    events.append(_reminder_event(r, m.title))
            if request.gitlab_iid is not None:
                events.extend(_webhook_events(s, request))
            if request.closed_at:
                events.append(Event(_iso(request.closed_at), "closed"))
            if request.status is RequestStatus.FAILED:
                events.append(Event(_iso(request.updated_at), "failed", request.filing_error or ""))
            row = _row(request)
        # Undated things (pending jobs, the issue link) after the dated ones, in the order found.
        events.sort(key=lambda e: (e.at is None, e.at or ""))
        return Timeline(row, events)

    # --- retry -----------------------------------------------------------------------------------

    def plan_retry(self, ref: str | int, *, now: datetime) -> Plan:
        with self.db.session() as s:
            request = _find(s, ref)
            return Plan(request.id, *_retry(s, request, now=now, apply=False))

    def retry(self, ref: str | int, *, now: datetime) -> Plan:
        with self.db.session() as s:
            request = _find(s, ref)
            plan = Plan(request.id, *_retry(s, request, now=now, apply=True))
        if not plan.empty:
            log.info("request %s retried by an operator: %s", plan.request_id, "; ".join(plan.steps),
                     extra={"event": "admin_retry", "request_id": plan.request_id})
        return plan

    # --- cancel ----------------------------------------------------------------------------------

    def plan_cancel(self, ref: str | int, *, now: datetime) -> Plan:
        with self.db.session() as s:
            request = _find(s, ref)
            return Plan(request.id, *_cancel(s, request, now=now, apply=False))

    def cancel(self, ref: str | int, *, now: datetime) -> Plan:
        with self.db.session() as s:
            request = _find(s, ref)
            plan = Plan(request.id, *_cancel(s, request, now=now, apply=True))
        if not plan.empty:
            log.info("request %s cancelled by an operator: %s", plan.request_id, "; ".join(plan.steps),
                     extra={"event": "admin_cancel", "request_id": plan.request_id})
        return plan


# --- what retry and cancel do (planned and applied by the same code) ---------------------------------

def _held(job: Job, now: datetime) -> bool:
    return job.claimed_until is not None and job.claimed_until >= now


def _retry(s: Session, request: Request, *, now: datetime, apply: bool) -> tuple[list[str], str]:
    steps: list[str] = []
    if request.status is RequestStatus.CLOSED:
        return [], f"request {request.id} is closed: nothing to retry"
    for job in s.scalars(select(Job).where(Job.request_id == request.id).order_by(Job.id)):
        if _held(job, now):
            steps.append(f"leave {job.kind.value} alone: a worker is running it now")
            continue
        refiling = job.kind is JobKind.FILE_ISSUE and request.status is RequestStatus.FAILED
        if job.finished_at is None or refiling:
            # attempts is kept: a retry of filing looks for an issue an earlier try opened before creating one.
            steps.append(f"run {job.kind.value} at the next dispatch pass"
                         + (f" (last error: {job.last_error[:120]})" if job.last_error else ""))
            if apply:
                job.finished_at, job.claimed_until, job.due_at = None, None, now
    if request.status is RequestStatus.FAILED:
        steps.append("set the request back to filing")
        if apply:
            request.status, request.updated_at = RequestStatus.FILING, now
    for notice in s.scalars(select(Notice).where(Notice.request_id == request.id, Notice.failed_at.is_not(None))):
        steps.append(f"send notice {notice.key} to {notice.recipient} again (Slack refused it: {notice.last_error})")
        if apply:
            notice.failed_at, notice.claimed_until, notice.due_at = None, None, now
    if not [x for x in steps if not x.startswith("leave ")]:
        return [], f"request {request.id} has nothing failed or waiting to retry"
    return steps, ""


def _cancel(s: Session, request: Request, *, now: datetime, apply: bool) -> tuple[list[str], str]:
    if request.status is RequestStatus.CLOSED:
        return [], f"request {request.id} is already closed"
    steps = [f"close request {request.id} ({request.status.value}) in learnbot"]
    pending = [r for m in request.milestones for r in m.reminders if r.sent_at is None and r.cancelled_at is None]
    if pending:
        steps.append(f"cancel {len(pending)} reminder(s) not sent yet")
    filing = s.scalars(select(Job).where(Job.request_id == request.id, Job.kind == JobKind.FILE_ISSUE,
                                         Job.finished_at.is_(None))).first()
    close_in_gitlab = request.gitlab_iid is not None
    if filing is not None:
        if _held(filing, now):
            steps.append("a worker is filing it right now: close the GitLab issue as soon as it exists")
            close_in_gitlab = True
        else:
            steps.append("stop filing it in GitLab (no issue is opened)")
    if close_in_gitlab:
        steps.append(f"close GitLab issue #{request.gitlab_iid}" if request.gitlab_iid else "queue the issue's close")
    if apply:
        ReminderService.stop_request(s, request, now=now)
        if filing is not None and not _held(filing, now):
            JOBS.mark_failed(filing, now, "cancelled by an operator")
        if close_in_gitlab:
            jobs.enqueue_or_wake(s, kind=JobKind.CLOSE_ISSUE, request_id=request.id, due_at=now)
    return steps, ""


def _job_events(job: Job) -> list[Event]:
    label = job.kind.value
    out = [Event(_iso(job.created_at), f"job {label} queued", f"job {job.id}")]
    if job.finished_at:
        detail = f"job {job.id}, {job.attempts} attempt(s)" + (f": {job.last_error}" if job.last_error else "")
        out.append(Event(_iso(job.finished_at), f"job {label} finished", detail))
    else:
        state = "held by a worker" if job.claimed_until else f"due {_iso(job.due_at)}"
        detail = f"job {job.id}, {job.attempts} attempt(s), {state}" + (
            f", last error: {job.last_error}" if job.last_error else "")
        out.append(Event(None, f"job {label} waiting", detail))
    return out


def _notice_event(n: Notice) -> Event:
    where = f"{n.key} to {n.recipient}"
    if n.sent_at:
        return Event(_iso(n.sent_at), "notice sent", where)
    if n.failed_at:
        return Event(_iso(n.failed_at), "notice failed", f"{where}: {n.last_error or ''}")
    return Event(None, "notice owed", f"{where}, due {_iso(n.due_at)}, {n.attempts} attempt(s)")


def _reminder_event(r: Reminder, step: str) -> Event:
    who = f"{step} to {r.recipient_id}"
    if r.sent_at:
        return Event(_iso(r.sent_at), "reminder sent", who)
    if r.cancelled_at:
        return Event(_iso(r.cancelled_at), "reminder cancelled", who)
    return Event(None, "reminder due", f"{who} at {_iso(r.due_at)}" + (f" (last error: {r.last_error})"
                                                                         if r.last_error else ""))


def _webhook_events(s: Session, request: Request) -> list[Event]:
    """Deliveries that told this request something: those its notices name (issue-event:<delivery id>)."""
    keys = s.scalars(select(Notice.key).where(Notice.request_id == request.id, Notice.key.like("issue-event:%")))
    ids = {int(k.split(":")[1]) for k in keys if k.split(":")[1].isdigit()}
    if not ids:
        return []
    deliveries = s.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return [Event(_iso(d.received_at), "webhook", f"{d.event} (delivery {d.id}): {d.outcome or 'pending'}")
            for d in deliveries]
