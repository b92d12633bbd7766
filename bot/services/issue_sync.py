"""Keeping the GitLab issue in step with the request: ticked steps, moved dates, closing.

Each write is a claimed job (one row per request and kind), so a Done pressed while GitLab is
down is written when it comes back, and two quick presses make one PUT, not a race.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import selectinload

from bot import metrics
from bot.domain.checklist import StepState, sync_checklist
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable
from bot.ops.shutdown import until_stopped
from bot.store import jobs
from bot.store.db import Database
from bot.store.models import Job, JobKind, Request, RequestStatus

log = logging.getLogger(__name__)
KINDS = (JobKind.SYNC_CHECKLIST, JobKind.CLOSE_ISSUE)
NOT_FILED_YET = timedelta(minutes=1)


@dataclass(frozen=True)
class SyncResult:
    request_id: int
    kind: JobKind
    outcome: str  # "written", "unchanged", "waiting", "deferred", "failed", "skipped"
    detail: str = ""


class IssueSyncService:
    def __init__(self, *, db: Database, gitlab: GitLabGateway):
        self.db = db
        self.gitlab = gitlab

    def run_due(self, *, now: datetime, limit: int = 100) -> list[SyncResult]:
        with self.db.session() as s:
            claimed = [(j.id, j.kind, j.request_id, j.attempts)
                       for j in jobs.claim_due(s, now=now, kinds=KINDS, limit=limit)]
        results = []
        for job_id, kind, request_id, attempt in until_stopped(claimed, db=self.db, model=Job, id_of=lambda c: c[0]):
            try:
                results.append(self._run(job_id, kind, request_id, attempt, now))
            except Exception as exc:  # a bulkhead: recorded on this job, retried with backoff; the pass goes on
                log.exception("request %s: unexpected failure in %s", request_id, kind.value)
                error = f"{type(exc).__name__}: {exc}"
                with self.db.session() as s:
                    job = s.get(Job, job_id)
                    when = jobs.retry_later(job, now=now, error=error) if job is not None else now
                results.append(SyncResult(request_id, kind, "deferred", f"{error}; next try {when.isoformat()}"))
        return results

    def _run(self, job_id: int, kind: JobKind, request_id: int, attempt: int, now: datetime) -> SyncResult:
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            assert request is not None
            iid, status, due_on = request.gitlab_iid, request.status, request.anchor_date
            states = {m.key: StepState(done=m.done_at is not None, due_on=m.due_on) for m in request.milestones}
        if iid is None:
            if status is RequestStatus.FAILED:
                return self._finish(job_id, kind, request_id, attempt, now, "skipped", "the issue was never filed")
            # Filing is still under way; its own job retries. Look again shortly.
            with self.db.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                job.due_at, job.claimed_until, job.attempts = now + NOT_FILED_YET, None, 0
            return SyncResult(request_id, kind, "waiting", "issue not filed yet")
        try:
            if kind is JobKind.CLOSE_ISSUE:
                self.gitlab.update_issue(iid, state_event="close")
                return self._finish(job_id, kind, request_id, attempt, now, "written", f"closed #{iid}")
            # Read just before writing, change only learnbot's own checklist lines: whatever
            # people wrote in the description meanwhile is kept.
            issue = self.gitlab.get_issue(iid)
            current = issue.description or ""
            fields: dict[str, str] = {}
            wanted = sync_checklist(current, states)
            if wanted != current:
                fields["description"] = wanted
            if due_on is not None and issue.due_date != due_on.isoformat():
                fields["due_date"] = due_on.isoformat()  # the date the plan counts from, moved by a re-plan
            if not fields:
                return self._finish(job_id, kind, request_id, attempt, now, "unchanged")
            self.gitlab.update_issue(iid, **fields)
            return self._finish(job_id, kind, request_id, attempt, now, "written", f"checklist of #{iid}")
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            with self.db.session() as s:
                job = s.get(Job, job_id)
                assert job is not None
                when = jobs.retry_later(job, now=now, error=str(exc), retry_after=exc.retry_after)
            return SyncResult(request_id, kind, "deferred", f"{exc}; next try {when.isoformat()}")
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            log.error("request %s: GitLab refused %s: %s", request_id, kind.value, exc)
            return self._finish(job_id, kind, request_id, attempt, now, "failed", str(exc))

    def _finish(self, job_id: int, kind: JobKind, request_id: int, attempt: int, now: datetime, outcome: str,
                detail: str = "") -> SyncResult:
        with self.db.session() as s:
            job = jobs.held(s, job_id)
            assert job is not None
            if not jobs.finish_claimed(job, attempt=attempt, now=now):
                detail = (detail + "; " if detail else "") + "changed meanwhile, runs again"
            if outcome == "failed":
                job.last_error = detail[:2000]
        return SyncResult(request_id, kind, outcome, detail)
