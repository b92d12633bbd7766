"""Keeping the GitLab issue in step with the request: ticked steps, moved dates, closing.

Each write is a claimed job (one row per request and kind), so a Done pressed while GitLab is
down is written when it comes back, and two quick presses make one PUT, not a race.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import selectinload

from bot import metrics
from bot.domain.checklist import StepState, sync_checklist
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, Result, Retry, Wait
from bot.store.db import Database
from bot.store.models import JobKind, Request, RequestStatus
from bot.store.queues import JOBS

log = logging.getLogger(__name__)
KINDS = (JobKind.SYNC_CHECKLIST, JobKind.CLOSE_ISSUE)
NOT_FILED_YET = timedelta(minutes=1)


# One write's result: its status, and what happened ("written", "unchanged", "deferred", "failed", …).
SyncResult = Result


class IssueSyncService:
    def __init__(self, *, db: Database, gitlab: GitLabGateway):
        self.db = db
        self.gitlab = gitlab
        self.handlers = [Kind(kind.value, JOBS, self._run, retry_said="deferred", part="issue sync") for kind in KINDS]

    def _run(self, claim: Claim, now: datetime) -> Outcome:
        kind, request_id = JobKind(claim.kind), claim.request_id
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            assert request is not None
            iid, status, due_on = request.gitlab_iid, request.status, request.anchor_date
            states = {m.key: StepState(done=m.done_at is not None, due_on=m.due_on) for m in request.milestones}
        if iid is None:
            if status is RequestStatus.FAILED:
                return Done("skipped", "the issue was never filed")
            # Filing is still under way; its own job retries. Look again shortly.
            return Wait(now + NOT_FILED_YET, "issue not filed yet")
        try:
            if kind is JobKind.CLOSE_ISSUE:
                self.gitlab.update_issue(iid, state_event="close")
                return Done("written", f"closed #{iid}")
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
                return Done("unchanged")
            self.gitlab.update_issue(iid, **fields)
            return Done("written", f"checklist of #{iid}")
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return Retry(str(exc), after=exc.retry_after, said="deferred")
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            log.error("request %s: GitLab refused %s: %s", request_id, kind.value, exc)
            return GiveUp(str(exc))
