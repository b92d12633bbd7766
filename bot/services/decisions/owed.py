"""What a stored decision owes afterwards (§12): the deciders' message redrawn, the issue's label, assignee and notes.

Two jobs per request: DECISION_MESSAGE (chat.update of the deciders' message, safe to repeat) and
DECISION_GITLAB (the scoped label, the assignee, one note per history row). Both are handlers of the one
runner (bot/services/runner.py): `update_message` and `write_gitlab` do one job's work and say how it
came out; the runner claims, retries and records. A note carries a hidden, signed marker
(bot.domain.markers) looked up before a retry writes it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import metrics
from bot.domain import decisions as rules
from bot.domain.decisions import Route, State
from bot.domain.safe_text import gitlab_user_text
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable, IssueRef
from bot.gateways.slack import SlackGateway, SlackRefused, SlackSetupWrong, SlackUnavailable
from bot.messages import decisions as messages
from bot.services import runner
from bot.services.decisions.card import LIVE, Cards, posted_message, thread_of
from bot.services.notices import NoticeService, slack_outcome
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import DecisionEvent, Job, JobKind, Person, Request, RequestStatus
from bot.store.queues import JOBS

log = logging.getLogger(__name__)
KINDS = (JobKind.DECISION_MESSAGE, JobKind.DECISION_GITLAB)
NOT_READY = timedelta(minutes=1)
DECISION_NOTE = "decision-event"  # the kind of marker (bot.domain.markers) a decision's note carries
# A decision job's result (and a nudge's): status, and what happened ("written", "deferred", "nudged", …).
JobResult = runner.Result


@dataclass(frozen=True)
class Outcome:
    """How one owed write came out; the runner records it on the job (`for_runner`)."""

    status: str  # written, waiting (not possible yet: again in a minute), deferred (retry with backoff), failed
    detail: str
    retry_after: float | None = None  # deferred: not sooner than this many seconds (the server's Retry-After)
    problem: str | None = None  # written, but something beside it went wrong: kept on the job

    def for_runner(self, now: datetime) -> runner.Outcome:
        if self.status == "waiting":
            return runner.Wait(now + (timedelta(seconds=self.retry_after) if self.retry_after else NOT_READY),
                               self.detail)
        if self.status == "deferred":
            return runner.Retry(self.detail, after=self.retry_after, said="deferred")
        if self.status == "failed":
            return runner.GiveUp(self.detail)
        problem = self.problem

        def keep_problem(_s: Session, job: Job) -> None:
            job.last_error = problem[:2000] if problem else None

        return runner.Done(self.status, self.detail, record=keep_problem if problem else None)


class OwedWrites:
    def __init__(self, *, db: Database, cards: Cards, slack: SlackGateway, gitlab: GitLabGateway,
                 notices: NoticeService):
        self.db = db
        self.cards = cards
        self.slack = slack
        self.gitlab = gitlab
        self.notices = notices

        self.handlers = [runner.Kind(kind.value, JOBS, self._job, retry_said="deferred", part="decisions")
                         for kind in KINDS]

    def _job(self, claim: runner.Claim, now: datetime) -> runner.Outcome:
        assert claim.request_id is not None
        work = self.update_message if claim.kind == JobKind.DECISION_MESSAGE.value else self.write_gitlab
        return work(claim.request_id, attempt=claim.attempt, now=now).for_runner(now)

    def run_for(self, request_id: int, kind: JobKind, *, now: datetime, patience: float = 5.0) -> JobResult | None:
        """Run this request's job now. If another thread holds it (an earlier decision's write still
        under way), wait for it a little: what this decision added must not sit until the next pass."""
        handler = self.handlers[KINDS.index(kind)]
        deadline = time.monotonic() + patience
        while True:
            with self.db.session() as s:
                job_id = jobs.job_id(s, kind=kind, request_id=request_id)
            done = runner.run_now(self.db, handler, job_id, now=now) if job_id is not None else None
            if done is not None:
                return done
            with self.db.session() as s:
                held = s.scalar(select(func.count(Job.id)).where(
                    Job.kind == kind, Job.request_id == request_id, Job.finished_at.is_(None),
                    Job.claimed_until.is_not(None), Job.claimed_until > now))
            if not held or time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    # --- the deciders' message ---------------------------------------------------------------

    def update_message(self, request_id: int, *, attempt: int, now: datetime) -> Outcome:
        """Redraw the deciders' message as the request stands (chat.update is safe to repeat: any attempt
        writes the whole message)."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            thread = thread_of(s, request_id)
            posted = posted_message(s, request_id)
            gone = "no message to update" if posted is None else (
                f"the message was never posted: {posted.last_error}" if posted.failed_at is not None else None)
            if gone is None and (thread is None or (request.gitlab_iid is None
                                                    and request.status is RequestStatus.FILING)):
                return Outcome("waiting", "message or issue not there yet")
            if gone is None:
                text, blocks = self.cards.message(s, request)
        if gone is not None or thread is None:  # no channel, or Slack refused the message for good
            return Outcome("failed", gone or "no message")
        try:
            self.slack.update_message(thread[0], thread[1], text, blocks)
        except SlackRefused as exc:
            return Outcome("failed", exc.code)
        except (SlackUnavailable, SlackSetupWrong) as exc:  # classified as every Slack write is
            said = slack_outcome(exc, now=now)
            if isinstance(said, runner.Wait):  # a 429 is no failure: again when Slack says
                return Outcome("waiting", said.reason, (said.until - now).total_seconds())
            assert isinstance(said, runner.Retry)
            return Outcome("deferred", said.error, said.after)
        return Outcome("written", "message updated")

    # --- GitLab --------------------------------------------------------------------------------

    def write_gitlab(self, request_id: int, *, attempt: int, now: datetime) -> Outcome:
        """The decision on the issue: one note per history row not written yet, then the label and assignee."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            if request.gitlab_iid is None:
                if request.status is RequestStatus.FAILED:
                    return Outcome("failed", "the issue was never filed")
                return Outcome("waiting", "issue not filed yet")
            iid, state, assignee = request.gitlab_iid, request.decision_state, request.assignee_username
            r = self.cards.route_of_request(request)
            events = [(e.id, e.kind, e.state, e.actor, e.text) for e in s.scalars(
                select(DecisionEvent).where(DecisionEvent.request_id == request_id,
                                            DecisionEvent.gitlab_note_at.is_(None),
                                            DecisionEvent.kind != "gitlab").order_by(DecisionEvent.id))]
            names = {p.slack_user_id: p.display_name for p in s.scalars(
                select(Person).where(Person.slack_user_id.in_([e[3] for e in events])))}
        try:
            for event in events:
                self._write_note(iid, event, names, attempt=attempt, now=now)
            fields, unassigned = self._issue_fields(self.gitlab.get_issue(iid), r, state, assignee)
            if fields:
                self.gitlab.update_issue(iid, **fields)
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return Outcome("deferred", str(exc), exc.retry_after)
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            return Outcome("failed", str(exc))
        if isinstance(unassigned, GitLabUnavailable):  # written; only the assignee waits for the next try
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return Outcome("deferred", f"#{iid} {state} written; assignee @{assignee} not set yet: {unassigned}",
                           unassigned.retry_after)
        if unassigned is not None:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            problem = f"assignee @{assignee} not set: {unassigned}"
            log.warning("request %s: #%s %s written, but %s", request_id, iid, state, problem)
            self._tell_unassigned(request_id, str(assignee), str(unassigned), now=now)
            return Outcome("written", f"#{iid} {state}; {problem}", problem=problem)
        return Outcome("written", f"#{iid} {state}")

    def _write_note(self, iid: int, event: tuple[int, str, str, str, str | None], names: dict[str, str | None], *,
                    attempt: int, now: datetime) -> None:
        event_id, kind, state, actor, text = event
        marker = self.gitlab.markers.mark(DECISION_NOTE, event_id)
        if attempt > 1 and self.gitlab.find_note_with(iid, marker):
            pass  # written by an earlier try whose answer was lost
        else:
            self.gitlab.add_note(iid, _note_body(kind, state, names.get(actor) or actor, text, marker))
        with self.db.session() as s:
            e = s.get(DecisionEvent, event_id)
            assert e is not None
            e.gitlab_note_at = now

    def _issue_fields(self, issue: IssueRef, r: Route, state: str, assignee: str | None
                      ) -> tuple[dict[str, Any], GitLabUnavailable | GitLabRejected | None]:
        """The issue's update for this state, and why the assignee could not be set (if it could not)."""
        wanted = rules.status_label(r, state)
        label_scope = rules.scope_of(wanted)
        stale = [lbl for lbl in issue.labels if rules.scope_of(lbl) == label_scope and lbl != wanted]
        fields: dict[str, Any] = {}
        if wanted not in issue.labels:
            fields["add_labels"] = wanted
        if stale:  # scoped labels replace each other in GitLab Premium; elsewhere we remove them
            fields["remove_labels"] = ",".join(stale)
        # The assignee is a wish on the side: whatever happens to it, the label and notes are written.
        if not (assignee and state == State.ACCEPTED and assignee not in issue.assignees):
            return fields, None
        try:
            user = self.gitlab.user_id(assignee)
        except (GitLabUnavailable, GitLabRejected) as exc:  # e.g. a token that may not list users (403)
            return fields, exc
        if user is None:
            return fields, GitLabRejected(f"no GitLab user {assignee!r}")
        fields["assignee_ids"] = [user]
        return fields, None

    def _tell_unassigned(self, request_id: int, username: str, why: str, *, now: datetime) -> None:
        """The decider asked to be assigned and GitLab would not: they hear it once, privately, with the link."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None or not request.decided_by or request.decided_by[:1] not in ("U", "W"):
                return
            text, blocks = messages.assignee_not_set(title=request.title, url=request.gitlab_url,
                                                     username=username, why=why)
            notice = outbox.enqueue(s, key=f"unassigned:{request_id}:{request.decision_version}",
                                    recipient=request.decided_by, text=text, blocks=blocks,
                                    request_id=request_id, due_at=now)
            notice_id = notice.id if notice.sent_at is None else None
        if notice_id is not None:
            self.notices.send(notice_id, now=now)

    # --- raised once when undecided too long ------------------------------------------------

    def nudge_due(self, *, now: datetime) -> list[JobResult]:
        out = []
        with self.db.session() as s:
            waiting = list(s.scalars(select(Request).where(
                Request.decision_state.in_([State.NEW.value, State.NEEDS_INFO.value, State.CHANGES_REQUESTED.value]),
                Request.decision_nudged_at.is_(None), Request.status.in_(LIVE))))
            ids = []
            for request in waiting:
                model = self.cards.catalog.model(request.support_model)
                if model is None or not rules.overdue_for_decision(request.created_at, model.decide_within, now):
                    continue
                thread = thread_of(s, request.id)
                if thread is None:
                    continue  # nowhere to raise it yet; the next pass tries again
                request.decision_nudged_at = now
                age = rules.age_text(request.created_at, now)
                text = messages.history_line(kind="nudge", state=request.decision_state, actor="learnbot",
                                             text=f"filed {age} ago; decide within {model.decide_within} days")
                ids.append(outbox.enqueue(s, key=f"decide-nudge:{request.id}", recipient=thread[0],
                                          thread_ts=thread[1], text=text, request_id=request.id, due_at=now).id)
                out.append(JobResult("decision_nudge", request.id, request.id, runner.Status.DONE, "nudged", age))
        for notice_id in ids:
            self.notices.send(notice_id, now=now)
        return out


def _note_body(kind: str, state: str, actor: str, text: str | None, marker: str) -> str:
    label = rules.STATE_LABEL.get(State(state), state)
    head = {
        "answered": f"**Answer from the requester** ({gitlab_user_text(actor)}):",
        "asked": f"**Question from {gitlab_user_text(actor)}** (via learnbot):",
    }.get(kind, f"**{label}** by {gitlab_user_text(actor)} (via learnbot)")
    body = head
    if text:
        quoted = "\n".join("> " + line for line in gitlab_user_text(text).split("\n"))
        body += "\n\n" + quoted
    return f"{body}\n\n<!-- {marker} -->"
