"""Filing: opening a stored request's GitLab issue exactly once, and telling the requester.

Every GitLab write is a claimed job; what the requester is told is a notice stored in the same
transaction (services/notices.py sends it exactly once). A try that may have reached GitLab (a lost answer, a
timeout, a 5xx) is followed by a search for the request's hidden marker before any re-create,
so a retry adopts the issue GitLab already made instead of opening a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot import metrics
from bot.catalog import LoadedCatalog, SupportModel
from bot.domain.planning import plan_milestones
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable, IssueRef
from bot.messages import notices
from bot.services.issues import IssueDraft, compose_issue, where_in_template
from bot.services.notices import NoticeService
from bot.services.people import PeopleService
from bot.services.project_templates import ProjectTemplates
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, Result, Retry, Status, run_now
from bot.services.shortcuts import ShortcutService
from bot.services.similar import SimilarService
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import Job, JobKind, Notice, Request, RequestStatus
from bot.store.queues import JOBS

log = logging.getLogger(__name__)


class CannotRender(Exception):
    """The request's issue cannot be rendered from the catalogue (a broken template or formula)."""


class FilingService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, gitlab: GitLabGateway, notices: NoticeService,
                 people: PeopleService, admins: frozenset[str] = frozenset(),
                 shortcuts: ShortcutService | None = None, similar: SimilarService | None = None,
                 templates: ProjectTemplates | None = None):
        self.admins = admins
        # The project's own description templates (None: always the shipped ones).
        self.templates = templates
        self.similar = similar
        self.db = db
        self.catalog = catalog
        self.gitlab = gitlab
        self.notices = notices
        self.people = people
        self.shortcuts = shortcuts
        # Told, in the transaction that records the issue, of a request filed (its outcome check-ins are
        # planned from its launch date: bot/services/feedback.py).
        self.on_filed: Callable[[Session, Request], None] | None = None

        self.handlers = [Kind(JobKind.FILE_ISSUE.value, JOBS, self._file, surprise=self._unexpected, part="filing"),
                         Kind(JobKind.NOTIFY_FILED.value, JOBS, self._notice_from_old_job, part="filing")]

    def file_now(self, request_id: int, *, now: datetime) -> Result:
        """Try to file one request straight after submission (the worker retries if this fails)."""
        with self.db.session() as s:
            job_id = jobs.job_id(s, kind=JobKind.FILE_ISSUE, request_id=request_id)
        done = run_now(self.db, self.handlers[0], job_id, now=now) if job_id is not None else None
        return done or Result(JobKind.FILE_ISSUE.value, job_id or 0, request_id, Status.SKIPPED, "skipped",
                              "not due or held by another worker")

    # --- the work ----------------------------------------------------------------------------

    def _file(self, claim: Claim, now: datetime) -> Outcome:
        request_id = claim.request_id
        assert request_id is not None
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            assert request is not None
            model = self.catalog.model(request.support_model)
            source_url = ShortcutService.source_link(s, request_id)
        if model is None:
            return self._give_up(request_id, f"support model {request.support_model!r} is no longer in the catalogue",
                                 now, by_gitlab=False)
        zone = self.people.zone(request.requester_id)
        people = [request.requester_id] + [
            v for f in model.fields if f.type in ("user", "users")
            for v in ([request.answers.get(f.id)] if f.type == "user" else request.answers.get(f.id) or [])
            if isinstance(v, str)
        ]
        names = self.people.names(people, now=now)
        try:
            found = self.gitlab.find_issue_with(request.marker) if claim.attempt > 1 else None
            if found is not None:
                log.info("request %s: adopting issue #%s from an earlier try", request_id, found.iid)
                issue = found
            else:
                draft = self._draft(model, request, names=names, zone=zone, source_url=source_url, now=now)
                issue = self.gitlab.create_issue(
                    title=draft.title, description=draft.description, labels=draft.labels, weight=draft.weight,
                    due_date=draft.due_date,
                )
                metrics.ISSUES_FILED.labels(model.key).inc()
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return self._defer(request_id, str(exc), exc.retry_after, now)
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            return self._give_up(request_id, str(exc), now)
        except CannotRender as exc:
            return self._give_up(request_id, str(exc), now, by_gitlab=False)
        owed: list[int] = []

        def record(s: Session, job: Job) -> None:
            owed.append(self._record_issue(s, request_id, job.id, issue, now))

        def tell() -> bool:
            if self.shortcuts is not None and self.shortcuts.thread_reply:
                self._send_owed(f"source-reply:{request_id}", now=now)
            # The DM is stored; sending it now saves the requester a minute.
            return bool(owed) and self.notices.send(owed[0], now=now).status is Status.DONE

        return Done("filed", issue.web_url, record=record, then=tell)

    def _draft(self, model: SupportModel, request: Request, *, names: dict[str, str], zone: ZoneInfo,
               source_url: str | None = None, now: datetime | None = None) -> IssueDraft:
        """The issue to open, or CannotRender: the same answers and catalogue fail the same way every time."""
        project_template = self._project_template(model, request, now=now)
        try:
            plan = None
            if model.plan is not None and request.anchor_date is not None:
                created_local = request.created_at.astimezone(zone).date()
                plan = plan_milestones(model.plan, request.anchor_date, created_local)
            return compose_issue(self.catalog, model, request, names=names, zone=zone, plan=plan,
                                 source_url=source_url, project_template=project_template)
        except Exception as exc:  # a template's or formula's error, whatever Jinja2 raised
            try:
                template = f"template {model.template_for(request.answers)}"
            except Exception:
                template = "template"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CannotRender(f"its issue could not be written from the catalogue's {template}"
                               f"{where_in_template(exc)} ({type(exc).__name__}: {first})") from exc

    def _project_template(self, model: SupportModel, request: Request, *, now: datetime | None) -> str | None:
        """The project's own template for this request, or None: the shipped one. Optional by nature, so no fault
        in reading it (GitLab's, or this code's) may stop the filing."""
        if self.templates is None or now is None:
            return None
        try:
            return self.templates.text(model.template_for(request.answers), now=now)
        except Exception:
            log.exception("request %s: the project's description template could not be read; the shipped one is used",
                          request.id)
            return None

    def _record_issue(self, s: Session, request_id: int, job_id: int, issue: IssueRef, now: datetime) -> int:
        request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
        assert request is not None
        request.gitlab_iid = issue.iid
        request.gitlab_url = issue.web_url
        request.due_on = request.anchor_date
        request.labels = list(issue.labels)
        if request.status is not RequestStatus.CLOSED:  # closed from Slack while it was being filed
            request.status = RequestStatus.OPEN
        request.filing_error = None
        request.updated_at = now
        if self.shortcuts is not None:
            self.shortcuts.owe_thread_reply(s, request, now=now)
        if self.on_filed is not None:
            self.on_filed(s, request)
        if self.similar is not None:
            self._find_similar(s, request, now=now)
        log.info("request %s: filed as #%s", request_id, issue.iid, extra={
            "event": "issue_filed", "request_id": request_id, "slack_user": request.requester_id, "job_id": job_id})
        return self._owe_filed_notice(s, request, now=now)

    def _find_similar(self, s: Session, request: Request, *, now: datetime) -> None:
        """The earlier requests that read like this one, for its deciders' card: a hint, so a bug in
        finding them never undoes the filing (a savepoint)."""
        assert self.similar is not None
        try:
            with s.begin_nested():
                self.similar.find(s, request, now=now)
        except Exception:
            log.exception("request %s: similar requests not found", request.id)

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

    def _notice_from_old_job(self, claim: Claim, now: datetime) -> Outcome:
        """A job from before the notice outbox: its DM becomes a notice."""
        owed: list[int] = []

        def record(s: Session, _job: Job) -> None:
            request = s.get(Request, claim.request_id, options=[selectinload(Request.milestones)])
            assert request is not None
            owed.append(self._owe_filed_notice(s, request, now=now))

        return Done("filed", "confirmation moved to the notice outbox", record=record,
                    then=lambda: self.notices.send(owed[0], now=now).status is Status.DONE)

    def _defer(self, request_id: int, error: str, retry_after: float | None, now: datetime) -> Outcome:
        owed: list[int] = []

        def record(s: Session, _job: Any) -> None:
            request = s.get(Request, request_id)
            assert request is not None
            request.filing_error = error
            # Said once (the key), on the first failure: the request is safe and will be filed.
            text, body = notices.filing_delayed(request.title)
            owed.append(outbox.enqueue(s, key=f"filing-delayed:{request_id}", recipient=request.requester_id,
                                       text=text, blocks=body, request_id=request_id, due_at=now).id)

        return Retry(error, after=retry_after, said="deferred", record=record,
                     then=lambda: self.notices.send(owed[0], now=now))

    def _give_up(self, request_id: int, error: str, now: datetime, *, by_gitlab: bool = True) -> Outcome:
        """Failed for good: recorded on the request and its job; the requester and the L&D admins are told once."""
        owed: list[int] = []

        def record(s: Session, _job: Any) -> None:
            request = s.get(Request, request_id)
            assert request is not None
            request.status = RequestStatus.FAILED
            request.filing_error = error
            request.updated_at = now
            text, body = notices.filing_failed(request.title, error, by_gitlab=by_gitlab)
            owed.append(outbox.enqueue(s, key=f"filing-failed:{request_id}", recipient=request.requester_id,
                                       text=text, blocks=body, request_id=request_id, due_at=now).id)
            for admin in sorted(self.admins):
                text, body = notices.filing_failed_for_admins(
                    title=request.title, request_id=request_id, model=request.support_model,
                    requester=request.requester_id, error=error, by_gitlab=by_gitlab)
                owed.append(outbox.enqueue(s, key=f"filing-failed:{request_id}:admin:{admin}", recipient=admin,
                                           text=text, blocks=body, request_id=request_id, due_at=now).id)
            log.error("request %s cannot be filed: %s", request_id, error)

        def tell() -> None:
            for notice_id in [*owed[1:], *owed[:1]]:  # the admins first, then the requester
                self.notices.send(notice_id, now=now)

        return GiveUp(error, record=record, then=tell)

    @staticmethod
    def _unexpected(claim: Claim, error: str, _now: datetime) -> Outcome:
        """Something this code did not foresee (a bug, the database hiccuping): recorded on the request, tried
        again with backoff, and the pass goes on. Nobody is told yet: it may well work next time."""

        def record(s: Session, _job: Any) -> None:
            request = s.get(Request, claim.request_id)
            if request is not None and request.status is RequestStatus.FILING:
                request.filing_error = error

        return Retry(error, said="deferred", record=record)
