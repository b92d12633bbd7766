"""Filing: opening a stored request's GitLab issue exactly once, and telling the requester.

Every GitLab write is a claimed job; what the requester is told is a notice stored in the same
transaction (services/notices.py sends it exactly once). A try that may have reached GitLab (a lost answer, a
timeout, a 5xx) is followed by a search for the request's hidden marker before any re-create,
so a retry adopts the issue GitLab already made instead of opening a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot import metrics
from bot.catalog import LoadedCatalog, SupportModel
from bot.domain.planning import plan_milestones
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable, IssueRef
from bot.messages import notices
from bot.ops.shutdown import until_stopped
from bot.services.issues import IssueDraft, compose_issue, where_in_template
from bot.services.notices import NoticeOutcome, NoticeService
from bot.services.people import PeopleService
from bot.services.shortcuts import ShortcutService
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import Job, JobKind, Notice, Request, RequestStatus

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    FILED = "filed"  # the issue is open (created now, or found from an earlier try)
    DEFERRED = "deferred"  # GitLab unavailable (or an unexpected error): retried later with backoff
    FAILED = "failed"  # GitLab refused it for good, or its issue cannot be rendered
    SKIPPED = "skipped"  # not due, already done, or another worker holds it


@dataclass(frozen=True)
class Result:
    request_id: int
    outcome: Outcome
    detail: str = ""
    notified: bool = False  # the requester's DM about it went out in the same pass
    notice_id: int | None = None
    admin_notice_ids: tuple[int, ...] = ()  # the L&D admins' notices about a request that failed


class CannotRender(Exception):
    """The request's issue cannot be rendered from the catalogue (a broken template or formula)."""


class FilingService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, gitlab: GitLabGateway, notices: NoticeService,
                 people: PeopleService, admins: frozenset[str] = frozenset(),
                 shortcuts: ShortcutService | None = None):
        self.admins = admins
        self.db = db
        self.catalog = catalog
        self.gitlab = gitlab
        self.notices = notices
        self.people = people
        self.shortcuts = shortcuts

    # --- entry points ------------------------------------------------------------------------

    def file_now(self, request_id: int, *, now: datetime) -> Result:
        """Try to file one request straight after submission (the worker retries if this fails)."""
        with self.db.session() as s:
            job = jobs.claim_for_request(s, kind=JobKind.FILE_ISSUE, request_id=request_id, now=now)
            claimed = (job.id, job.attempts) if job else None
        if claimed is None:
            return Result(request_id, Outcome.SKIPPED, "not due or held by another worker")
        return self._file_and_tell(request_id, job_id=claimed[0], attempt=claimed[1], now=now)

    def run_due(self, *, now: datetime, limit: int = 100) -> list[Result]:
        """One pass over due filing jobs (what `learnbot dispatch` runs)."""
        with self.db.session() as s:
            claimed = [(j.id, j.kind, j.request_id, j.attempts)
                       for j in jobs.claim_due(s, now=now, kinds=[JobKind.FILE_ISSUE, JobKind.NOTIFY_FILED],
                                               limit=limit)]
        results = []
        for job_id, kind, request_id, attempt in until_stopped(claimed, db=self.db, model=Job, id_of=lambda c: c[0]):
            try:
                if kind is JobKind.FILE_ISSUE:
                    results.append(self._file_and_tell(request_id, job_id=job_id, attempt=attempt, now=now))
                else:  # a job from before the notice outbox: its DM becomes a notice
                    results.append(self._notice_from_old_job(request_id, job_id=job_id, now=now))
            except Exception as exc:  # a bulkhead: one request's surprise never stops the others
                log.exception("request %s: unexpected failure while filing", request_id)
                results.append(self._unexpected(request_id, job_id, now, f"{type(exc).__name__}: {exc}"))
        return results

    def _file_and_tell(self, request_id: int, *, job_id: int, attempt: int, now: datetime) -> Result:
        result = self._file(request_id, job_id=job_id, attempt=attempt, now=now)
        for admin_notice in result.admin_notice_ids:
            self.notices.send(admin_notice, now=now)
        if result.outcome is Outcome.FILED and self.shortcuts is not None and self.shortcuts.thread_reply:
            self._send_owed(f"source-reply:{request_id}", now=now)
        if result.notice_id is not None:  # the DM is stored; sending it now saves the requester a minute
            sent = self.notices.send(result.notice_id, now=now)
            if result.outcome is Outcome.FILED and sent.outcome in (NoticeOutcome.SENT, NoticeOutcome.FOUND):
                return Result(request_id, Outcome.FILED, result.detail, notified=True)
        return result

    # --- the work ----------------------------------------------------------------------------

    def _file(self, request_id: int, *, job_id: int, attempt: int, now: datetime) -> Result:
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            assert request is not None
            model = self.catalog.model(request.support_model)
            source_url = ShortcutService.source_link(s, request_id)
        if model is None:
            return self._give_up(request_id, job_id, now, f"support model {request.support_model!r} "
                                 "is no longer in the catalogue", by_gitlab=False)
        zone = self.people.zone(request.requester_id)
        people = [request.requester_id] + [
            v for f in model.fields if f.type in ("user", "users")
            for v in ([request.answers.get(f.id)] if f.type == "user" else request.answers.get(f.id) or [])
            if isinstance(v, str)
        ]
        names = self.people.names(people, now=now)
        try:
            found = self.gitlab.find_issue_with(request.marker) if attempt > 1 else None
            if found is not None:
                log.info("request %s: adopting issue #%s from an earlier try", request_id, found.iid)
                issue = found
            else:
                draft = self._draft(model, request, names=names, zone=zone, source_url=source_url)
                issue = self.gitlab.create_issue(
                    title=draft.title, description=draft.description, labels=draft.labels, weight=draft.weight,
                    due_date=draft.due_date,
                )
                metrics.ISSUES_FILED.labels(model.key).inc()
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return self._defer(request_id, job_id, now, str(exc), exc.retry_after, attempt)
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            return self._give_up(request_id, job_id, now, str(exc))
        except CannotRender as exc:
            return self._give_up(request_id, job_id, now, str(exc), by_gitlab=False)
        notice_id = self._record_issue(request_id, job_id, issue, now)
        return Result(request_id, Outcome.FILED, issue.web_url, notice_id=notice_id)

    def _draft(self, model: SupportModel, request: Request, *, names: dict[str, str], zone: ZoneInfo,
               source_url: str | None = None) -> IssueDraft:
        """The issue to open, or CannotRender: the same answers and catalogue fail the same way every time."""
        try:
            plan = None
            if model.plan is not None and request.anchor_date is not None:
                created_local = request.created_at.astimezone(zone).date()
                plan = plan_milestones(model.plan, request.anchor_date, created_local)
            return compose_issue(self.catalog, model, request, names=names, zone=zone, plan=plan,
                                 source_url=source_url)
        except Exception as exc:  # a template's or formula's error, whatever Jinja2 raised
            try:
                template = f"template {model.template_for(request.answers)}"
            except Exception:
                template = "template"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CannotRender(f"its issue could not be written from the catalogue's {template}"
                               f"{where_in_template(exc)} ({type(exc).__name__}: {first})") from exc

    def _record_issue(self, request_id: int, job_id: int, issue: IssueRef, now: datetime) -> int:
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            job = s.get(Job, job_id)
            assert request is not None and job is not None
            request.gitlab_iid = issue.iid
            request.gitlab_url = issue.web_url
            request.due_on = request.anchor_date
            request.labels = list(issue.labels)
            if request.status is not RequestStatus.CLOSED:  # closed from Slack while it was being filed
                request.status = RequestStatus.OPEN
            request.filing_error = None
            request.updated_at = now
            jobs.finish(job, now=now)
            if self.shortcuts is not None:
                self.shortcuts.owe_thread_reply(s, request, now=now)
            log.info("request %s: filed as #%s", request_id, issue.iid, extra={
                "event": "issue_filed", "request_id": request_id, "slack_user": request.requester_id, "job_id": job_id})
            return self._owe_filed_notice(s, request, now=now)

    def _owe_filed_notice(self, s: Session, request: Request, *, now: datetime) -> int:
        text, body = notices.request_filed(request, self.catalog.model(request.support_model))
        return outbox.enqueue(s, key=f"filed:{request.id}", recipient=request.requester_id, text=text, blocks=body,
                              request_id=request.id, due_at=now).id

    def _send_owed(self, key: str, *, now: datetime) -> None:
        with self.db.session() as s:
            notice = s.scalars(select(Notice).where(Notice.key == key, Notice.sent_at.is_(None))).first()
            notice_id = notice.id if notice is not None else None
        if notice_id is not None:  # not sent now (Slack down): the worker's notice pass sends it
            self.notices.send(notice_id, now=now)

    def _notice_from_old_job(self, request_id: int, *, job_id: int, now: datetime) -> Result:
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            job = s.get(Job, job_id)
            assert request is not None and job is not None
            notice_id = self._owe_filed_notice(s, request, now=now)
            jobs.finish(job, now=now)
        sent = self.notices.send(notice_id, now=now)
        return Result(request_id, Outcome.FILED, "confirmation moved to the notice outbox",
                      notified=sent.outcome in (NoticeOutcome.SENT, NoticeOutcome.FOUND), notice_id=notice_id)

    def _defer(self, request_id: int, job_id: int, now: datetime, error: str, retry_after: float | None,
               attempt: int) -> Result:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            request = s.get(Request, request_id)
            assert job is not None and request is not None
            when = jobs.retry_later(job, now=now, error=error, retry_after=retry_after)
            request.filing_error = error
            # Said once (the key), on the first failure: the request is safe and will be filed.
            text, body = notices.filing_delayed(request.title)
            notice_id = outbox.enqueue(s, key=f"filing-delayed:{request_id}", recipient=request.requester_id,
                                       text=text, blocks=body, request_id=request_id, due_at=now).id
        log.warning("request %s: %s; retrying at %s", request_id, error, when.isoformat())
        return Result(request_id, Outcome.DEFERRED, f"{error}; next try {when.isoformat()}", notice_id=notice_id)

    def _give_up(self, request_id: int, job_id: int, now: datetime, error: str, *, by_gitlab: bool = True) -> Result:
        """Failed for good: recorded on the request and its job; the requester and the L&D admins are told once."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            request = s.get(Request, request_id)
            assert job is not None and request is not None
            jobs.finish(job, now=now)
            job.last_error = error[:2000]
            request.status = RequestStatus.FAILED
            request.filing_error = error
            request.updated_at = now
            text, body = notices.filing_failed(request.title, error, by_gitlab=by_gitlab)
            notice_id = outbox.enqueue(s, key=f"filing-failed:{request_id}", recipient=request.requester_id,
                                       text=text, blocks=body, request_id=request_id, due_at=now).id
            admin_ids = []
            for admin in sorted(self.admins):
                text, body = notices.filing_failed_for_admins(
                    title=request.title, request_id=request_id, model=request.support_model,
                    requester=request.requester_id, error=error, by_gitlab=by_gitlab)
                admin_ids.append(outbox.enqueue(s, key=f"filing-failed:{request_id}:admin:{admin}", recipient=admin,
                                                text=text, blocks=body, request_id=request_id, due_at=now).id)
        log.error("request %s cannot be filed: %s", request_id, error)
        return Result(request_id, Outcome.FAILED, error, notice_id=notice_id, admin_notice_ids=tuple(admin_ids))

    def _unexpected(self, request_id: int, job_id: int, now: datetime, error: str) -> Result:
        """Something this code did not foresee (a bug, the database hiccuping): recorded on the job, tried again
        with backoff, and the pass goes on. Nobody is told yet: it may well work next time."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.finished_at is not None:
                return Result(request_id, Outcome.SKIPPED, error)
            when = jobs.retry_later(job, now=now, error=error)
            request = s.get(Request, request_id)
            if request is not None and request.status is RequestStatus.FILING:
                request.filing_error = error
        return Result(request_id, Outcome.DEFERRED, f"{error}; next try {when.isoformat()}")
