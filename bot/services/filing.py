"""Filing: opening a stored request's GitLab issue exactly once, and telling the requester.

Every GitLab write is a claimed job. A try that may have reached GitLab (a lost answer, a
timeout, a 5xx) is followed by a search for the request's hidden marker before any re-create,
so a retry adopts the issue GitLab already made instead of opening a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy.orm import selectinload

from bot import metrics
from bot.catalog import LoadedCatalog
from bot.domain.planning import plan_milestones
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable, IssueRef
from bot.gateways.slack import SlackGateway
from bot.messages import notices
from bot.services.issues import compose_issue
from bot.services.people import PeopleService
from bot.store import jobs
from bot.store.db import Database
from bot.store.models import Job, JobKind, Request, RequestStatus

log = logging.getLogger(__name__)
FILED_EVENT = "learnbot_request_filed"  # message metadata of the "your issue is filed" DM


class Outcome(StrEnum):
    FILED = "filed"  # the issue is open (created now, or found from an earlier try)
    DEFERRED = "deferred"  # GitLab unavailable: retried later with backoff
    FAILED = "failed"  # GitLab refused it for good
    SKIPPED = "skipped"  # not due, already done, or another worker holds it
    NOTIFIED = "notified"


@dataclass(frozen=True)
class Result:
    request_id: int
    outcome: Outcome
    detail: str = ""


class FilingService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, gitlab: GitLabGateway, slack: SlackGateway,
                 people: PeopleService):
        self.db = db
        self.catalog = catalog
        self.gitlab = gitlab
        self.slack = slack
        self.people = people

    # --- entry points ------------------------------------------------------------------------

    def file_now(self, request_id: int, *, now: datetime) -> Result:
        """Try to file one request straight after submission (the worker retries if this fails)."""
        with self.db.session() as s:
            job = jobs.claim_for_request(s, kind=JobKind.FILE_ISSUE, request_id=request_id, now=now)
            claimed = (job.id, job.attempts) if job else None
        if claimed is None:
            return Result(request_id, Outcome.SKIPPED, "not due or held by another worker")
        result = self._file(request_id, job_id=claimed[0], attempt=claimed[1], now=now)
        if result.outcome is Outcome.FILED:
            self.notify_now(request_id, now=now)
        return result

    def notify_now(self, request_id: int, *, now: datetime) -> Result:
        with self.db.session() as s:
            job = jobs.claim_for_request(s, kind=JobKind.NOTIFY_FILED, request_id=request_id, now=now)
            claimed = (job.id, job.attempts) if job else None
        if claimed is None:
            return Result(request_id, Outcome.SKIPPED)
        return self._notify(request_id, job_id=claimed[0], attempt=claimed[1], now=now)

    def run_due(self, *, now: datetime, limit: int = 100) -> list[Result]:
        """One pass over due filing and notification jobs (what `learnbot dispatch` runs)."""
        with self.db.session() as s:
            claimed = [(j.id, j.kind, j.request_id, j.attempts)
                       for j in jobs.claim_due(s, now=now, kinds=[JobKind.FILE_ISSUE, JobKind.NOTIFY_FILED],
                                               limit=limit)]
        results = []
        for job_id, kind, request_id, attempt in claimed:
            if kind is JobKind.FILE_ISSUE:
                result = self._file(request_id, job_id=job_id, attempt=attempt, now=now)
                results.append(result)
                if result.outcome is Outcome.FILED:
                    results.append(self.notify_now(request_id, now=now))
            else:
                results.append(self._notify(request_id, job_id=job_id, attempt=attempt, now=now))
        return results

    # --- the work ----------------------------------------------------------------------------

    def _file(self, request_id: int, *, job_id: int, attempt: int, now: datetime) -> Result:
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            assert request is not None
            model = self.catalog.model(request.support_model)
        if model is None:
            return self._give_up(request_id, job_id, now, f"support model {request.support_model!r} "
                                 "is no longer in the catalogue")
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
                plan = None
                if model.plan is not None and request.anchor_date is not None:
                    created_local = request.created_at.astimezone(zone).date()
                    plan = plan_milestones(model.plan, request.anchor_date, created_local)
                draft = compose_issue(self.catalog, model, request, names=names, zone=zone, plan=plan)
                issue = self.gitlab.create_issue(
                    title=draft.title, description=draft.description, labels=draft.labels, weight=draft.weight,
                    due_date=draft.due_date,
                )
                metrics.ISSUES_FILED.labels(model.key).inc()
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return self._defer(request_id, job_id, now, str(exc), exc.retry_after, attempt)
        except (GitLabRejected, ValueError) as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            return self._give_up(request_id, job_id, now, str(exc))
        self._record_issue(request_id, job_id, issue, now)
        return Result(request_id, Outcome.FILED, issue.web_url)

    def _record_issue(self, request_id: int, job_id: int, issue: IssueRef, now: datetime) -> None:
        with self.db.session() as s:
            request = s.get(Request, request_id)
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
            jobs.enqueue(s, kind=JobKind.NOTIFY_FILED, request_id=request_id, due_at=now)

    def _defer(self, request_id: int, job_id: int, now: datetime, error: str, retry_after: float | None,
               attempt: int) -> Result:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            request = s.get(Request, request_id)
            assert job is not None and request is not None
            when = jobs.retry_later(job, now=now, error=error, retry_after=retry_after)
            request.filing_error = error
            title, requester = request.title, request.requester_id
        log.warning("request %s: %s; retrying at %s", request_id, error, when.isoformat())
        if attempt == 1:
            # Said once, on the first failure: the request is safe and will be filed.
            self._tell(requester, *notices.filing_delayed(title))
        return Result(request_id, Outcome.DEFERRED, f"{error}; next try {when.isoformat()}")

    def _give_up(self, request_id: int, job_id: int, now: datetime, error: str) -> Result:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            request = s.get(Request, request_id)
            assert job is not None and request is not None
            jobs.finish(job, now=now)
            job.last_error = error[:2000]
            request.status = RequestStatus.FAILED
            request.filing_error = error
            title, requester = request.title, request.requester_id
        log.error("request %s: GitLab refused the issue: %s", request_id, error)
        self._tell(requester, *notices.filing_failed(title, error))
        return Result(request_id, Outcome.FAILED, error)

    def _notify(self, request_id: int, *, job_id: int, attempt: int, now: datetime) -> Result:
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            model = self.catalog.model(request.support_model)
            text, body = notices.request_filed(request, model)
            requester = request.requester_id
        metadata = {"event_type": FILED_EVENT, "event_payload": {"request_id": request_id}}
        try:
            # A try after one that may have reached Slack looks for that DM first: told once.
            found = (self.slack.find_dm_with_metadata(requester, FILED_EVENT, {"request_id": request_id})
                     if attempt > 1 else None)
            if found is None:
                self.slack.send_dm(requester, text, body, metadata=metadata)
        except (SlackApiError, SlackRequestError, OSError) as exc:
            with self.db.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                jobs.retry_later(job, now=now, error=f"Slack: {exc}")
            return Result(request_id, Outcome.DEFERRED, f"DM failed: {exc}")
        with self.db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            jobs.finish(job, now=now)
        return Result(request_id, Outcome.NOTIFIED)

    def _tell(self, user_id: str, text: str, body: list[dict[str, object]]) -> None:
        try:
            self.slack.send_dm(user_id, text, body)
        except (SlackApiError, SlackRequestError, OSError) as exc:
            log.warning("could not DM %s: %s", user_id, exc)
