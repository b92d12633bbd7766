"""Care after launch: the live-session follow-up, evergreen reviews, and the notes they owe the GitLab issue.

Both are milestones with reminders like every other step (exactly once, snoozed, stopped by close,
listed in App Home); what is different is what their DM's buttons do. Whatever they owe GitLab is a
`request_notes` row written with the change and posted by the POST_NOTES job; whatever they owe the
L&D team is a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot import metrics
from bot.catalog import LoadedCatalog, SupportModel
from bot.domain.after_launch import (
    REVIEW_KEY,
    accurate_note,
    check_follow_up,
    follow_up_note,
    next_review,
    retire_note,
)
from bot.domain.validation import Raw
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable
from bot.messages import after_launch as views
from bot.messages import forms
from bot.services.issue_sync import NOT_FILED_YET
from bot.services.people import PeopleService
from bot.services.reminders import NotAllowed, ReminderService, Stale
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, Retry, Wait
from bot.store import jobs
from bot.store import notices as outbox
from bot.store import reminders as reminder_queries
from bot.store.db import Database
from bot.store.models import JobKind, Milestone, Person, Reminder, Request, RequestNote, RequestStatus
from bot.store.queues import JOBS

log = logging.getLogger(__name__)
RETIRE_LABEL = "evergreen::retire"
NOTE_MARK = "note"  # the kind of marker (bot.domain.markers) a RequestNote's note carries


@dataclass
class Answered:
    """What a follow-up or review answer produced: for the listener to show and send after its answer."""

    errors: dict[str, str]
    view: dict[str, Any] | None = None  # the modal's next view, or a form to open with the trigger id
    dm: tuple[str, str] | None = None  # (channel, ts) of the reminder DM to turn into `message`
    message: tuple[str, list[dict[str, Any]]] | None = None
    notices: tuple[int, ...] = ()


class AfterLaunchService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, reminders: ReminderService, people: PeopleService,
                 gitlab: GitLabGateway, handbook_prefixes: list[str], ld_channel: str | None):
        self.db = db
        self.catalog = catalog
        self.reminders = reminders
        self.people = people
        self.gitlab = gitlab
        self.handbook_prefixes = handbook_prefixes
        self.ld_channel = ld_channel
        self.handlers = [Kind(JobKind.POST_NOTES.value, JOBS, self._post, retry_said="deferred", part="issue notes")]
        # The request's end when its session is held (bot/services/feedback.py): the rating notice it owes.
        self.on_session_held: Callable[..., int | None] | None = None

    # --- shared -------------------------------------------------------------------------------

    def _owned(self, s: Session, reminder_id: int, user_id: str) -> tuple[Reminder, Milestone, Request, SupportModel]:
        r = s.scalars(select(Reminder).where(Reminder.id == reminder_id).options(
            selectinload(Reminder.milestone).selectinload(Milestone.request))).first()
        if r is None:
            raise Stale("That reminder no longer exists.")
        m, request = r.milestone, r.milestone.request
        model = self.catalog.model(request.support_model)
        if model is None:
            raise Stale("This kind of request is no longer offered.")
        if not self.reminders._allowed(request, user_id):
            raise NotAllowed
        if request.status is RequestStatus.FAILED or (
                request.status is RequestStatus.CLOSED and not self.reminders.outlives_close(request, m)):
            raise Stale("This request is closed.")
        return r, m, request, model

    def tell_ld(self, s: Session, *, key: str, request: Request, text: str, blocks: list[dict[str, Any]],
                now: datetime) -> int | None:
        """What the L&D team hears: a post in LEARNBOT_DIGEST_CHANNEL, owed once (nothing without one).

        The one place to send it elsewhere, e.g. a request's thread in the L&D triage channel once there is one.
        """
        if not self.ld_channel:
            log.info("%s: no LEARNBOT_DIGEST_CHANNEL, the L&D team is not told in Slack", key)
            return None
        return outbox.enqueue(s, key=key, recipient=self.ld_channel, text=text, blocks=blocks, request_id=request.id,
                              due_at=now).id

    @staticmethod
    def _note(s: Session, request: Request, *, kind: str, body: str, who: str, now: datetime,
              labels: list[str] | None = None) -> None:
        s.add(RequestNote(request_id=request.id, kind=kind, body=body, add_labels=labels or [], created_by=who,
                          created_at=now))
        jobs.enqueue_or_wake(s, kind=JobKind.POST_NOTES, request_id=request.id, due_at=now)

    # --- the live-session follow-up -------------------------------------------------------------

    def follow_up_form(self, reminder_id: int, *, user_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            _r, m, request, _model = self._owned(s, reminder_id, user_id)
            if m.done_at is not None:
                raise Stale("The follow-up of this session is already in. Thank you!")
            return views.follow_up_modal(reminder_id=reminder_id, request_title=request.title,
                                         recorded=request.answers.get("recorded") is True)

    def submit_follow_up(self, reminder_id: int, raw: Mapping[str, Raw], *, user_id: str, now: datetime) -> Answered:
        """Check the answers; then, in one transaction: the step ticked (its reminders stop), a note owed to
        the issue, and the L&D team told."""
        with self.db.session() as s:
            r, m, request, _model = self._owned(s, reminder_id, user_id)
            recorded = request.answers.get("recorded") is True
            if m.done_at is not None:  # another host sent it first (or a double click): said once
                return Answered(errors={}, view=views.follow_up_thanks_view(request.title))
        answers = check_follow_up(raw, recorded=recorded, handbook_prefixes=self.handbook_prefixes,
                                  today=self.people.local_today(user_id, now), now=now)
        if answers.errors:
            return Answered(errors=answers.errors)
        with self.db.session() as s:
            r, m, request, _model = self._owned(s, reminder_id, user_id)
            thanks = views.follow_up_thanks_view(request.title)
            if m.done_at is not None:  # submitted twice (double click, another host): said once
                return Answered(errors={}, view=thanks)
            m.done_at, m.done_by = now, user_id
            reminder_queries.cancel_pending(s, [m.id], now=now)
            jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request.id, due_at=now)
            self._note(s, request, kind="follow-up", body=follow_up_note(answers, who=self._name(s, user_id)),
                       who=user_id, now=now)
            text, blocks = views.ld_follow_up(request_title=request.title, issue_url=request.gitlab_url,
                                              answers=answers, who=user_id)
            told = self.tell_ld(s, key=f"follow-up:{request.id}", request=request, text=text, blocks=blocks, now=now)
            # The session was held: the request has ended, its requester is asked for a rating (once).
            rated = self.on_session_held(s, request, now=now) if self.on_session_held is not None else None
            dm = (r.slack_channel, r.slack_ts) if r.slack_channel and r.slack_ts else None
            message = views.outcome_message(request_title=request.title, issue_url=request.gitlab_url,
                                            what="Follow-up sent", actor=user_id)
        owed = tuple(n for n in (told, rated) if n)
        return Answered(errors={}, view=thanks, dm=dm, message=message, notices=owed)

    @staticmethod
    def _name(s: Session, user_id: str) -> str:
        """The name we have stored (no users.info here: this runs before Slack gets its answer)."""
        person = s.get(Person, user_id)
        return person.display_name if person is not None and person.display_name else user_id

    # --- evergreen reviews ----------------------------------------------------------------------

    def _review(self, s: Session, reminder_id: int, user_id: str) -> tuple[Reminder, Milestone, Request, SupportModel]:
        r, m, request, model = self._owned(s, reminder_id, user_id)
        if m.key != REVIEW_KEY or model.review_after is None:
            raise Stale("This is not an evergreen review.")
        if m.done_at is not None:
            raise Stale("This content was retired.")
        return r, m, request, model

    def _rearm(self, s: Session, m: Milestone, model: SupportModel, *, today: date, now: datetime) -> date:
        """The next review, the same interval from today; every owner's reminder waits for it."""
        assert model.review_after is not None
        due = next_review(today, model.review_after)
        m.due_on, m.pulled_forward = due, False
        for r in m.reminders:
            r.due_at, r.zone_checked = self.reminders._due(s, due, r.recipient_id)
            r.sent_at, r.cancelled_at, r.claimed_until, r.attempts = None, None, None, 0
            r.snoozed, r.nudges = False, 0
        jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=m.request_id, due_at=now)
        return due

    def still_accurate(self, reminder_id: int, *, user_id: str, now: datetime) -> Answered:
        today = self.people.local_today(user_id, now)  # read before the write: one session at a time
        with self.db.session() as s:
            r, m, request, model = self._review(s, reminder_id, user_id)
            who = self._name(s, user_id)
            due = self._rearm(s, m, model, today=today, now=now)
            self._note(s, request, kind="still-accurate", body=accurate_note(who=who, next_on=due), who=user_id,
                       now=now)
            message = views.outcome_message(request_title=request.title, issue_url=request.gitlab_url,
                                            what=views.next_review_note(due), actor=user_id)
            dm = (r.slack_channel, r.slack_ts) if r.slack_channel and r.slack_ts else None
        return Answered(errors={}, dm=dm, message=message)

    def needs_update(self, reminder_id: int, *, user_id: str, now: datetime) -> Answered:
        """A content review request, pre-filled from the original, opens; the next review waits an interval."""
        today = self.people.local_today(user_id, now)
        with self.db.session() as s:
            r, m, request, model = self._review(s, reminder_id, user_id)
            target = self.catalog.model(model.review_update_model)
            if target is None:
                raise Stale("The content review form is no longer offered; ask the L&D team.")
            initial: dict[str, str] = {"title": f"Update: {request.title}"}
            urls = request.answers.get("handbook_urls")
            if isinstance(urls, list):
                initial["handbook_urls"] = "\n".join(str(u) for u in urls)
            free = target.prefill_field()
            if free is not None:
                initial[free.id] = (f"Evergreen review of {request.gitlab_url or request.title}: "
                                    "the content needs an update.")
            form = forms.request_modal(target, requester=user_id, initial=initial)
            due = self._rearm(s, m, model, today=today, now=now)
            message = views.outcome_message(request_title=request.title, issue_url=request.gitlab_url,
                                            what="Update requested; " + views.next_review_note(due).lower(),
                                            actor=user_id)
            dm = (r.slack_channel, r.slack_ts) if r.slack_channel and r.slack_ts else None
        return Answered(errors={}, view=form, dm=dm, message=message)

    def retire(self, reminder_id: int, *, user_id: str, now: datetime) -> Answered:
        """Ask L&D to unpublish: the review stops, the issue gets a note and a label, L&D is told."""
        with self.db.session() as s:
            r, m, request, _model = self._review(s, reminder_id, user_id)
            who = self._name(s, user_id)
            m.done_at, m.done_by = now, user_id
            reminder_queries.cancel_pending(s, [m.id], now=now)
            self._note(s, request, kind="retire", body=retire_note(who=who, title=request.title), who=user_id,
                       now=now, labels=[RETIRE_LABEL])
            text, blocks = views.ld_retire(request_title=request.title, issue_url=request.gitlab_url, who=user_id)
            told = self.tell_ld(s, key=f"retire:{request.id}", request=request, text=text, blocks=blocks, now=now)
            message = views.outcome_message(request_title=request.title, issue_url=request.gitlab_url,
                                            what="Retired: the L&D team is asked to unpublish it", actor=user_id)
            dm = (r.slack_channel, r.slack_ts) if r.slack_channel and r.slack_ts else None
        return Answered(errors={}, dm=dm, message=message, notices=(told,) if told else ())

    # --- notes owed to GitLab -------------------------------------------------------------------

    def _post(self, claim: Claim, now: datetime) -> Outcome:
        """Post the request's owed notes (and their labels), exactly once: a re-try looks for the note first."""
        request_id = claim.request_id
        with self.db.session() as s:
            request = s.get(Request, request_id)
            assert request is not None
            iid = request.gitlab_iid
            markers = self.gitlab.markers
            owed = [(n.id, n.body, markers.mark(NOTE_MARK, n.id), list(n.add_labels or []), n.kind) for n in s.scalars(
                select(RequestNote).where(RequestNote.request_id == request_id, RequestNote.posted_at.is_(None))
                .order_by(RequestNote.id))]
            failed = request.status is RequestStatus.FAILED
        if iid is None:
            return Done("skipped", "the issue was never filed") if failed else Wait(now + NOT_FILED_YET,
                                                                                   "issue not filed yet")
        posted = 0
        try:
            for note_id, body, marker, labels, _kind in owed:
                # After a lost answer the note may be there already: look for its marker before posting again.
                if claim.attempt <= 1 or not self.gitlab.find_note_with(iid, marker):
                    self.gitlab.add_note(iid, f"{body}\n\n<!-- {marker} -->")  # signed: see bot.domain.markers
                if labels:
                    self.gitlab.update_issue(iid, add_labels=",".join(labels))  # adding a label twice is a no-op
                with self.db.session() as s:
                    note = s.get(RequestNote, note_id)
                    assert note is not None
                    note.posted_at = now
                posted += 1
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return Retry(str(exc), after=exc.retry_after, said="deferred")
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            log.error("request %s: GitLab refused a note: %s", request_id, exc)
            return GiveUp(str(exc))
        return Done("written", f"{posted} note(s) on #{iid}")
