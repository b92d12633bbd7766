"""After launch, what the requester tells L&D: outcome check-ins and the satisfaction rating.

Check-ins are rows planned once the launch date is known (filing, a re-plan, a plan-less model's
publication); the dispatch pass asks each at the requester's reminder hour on its date and nudges once.
The rating is asked once, when a request ends. Every DM is a notice (stored, sent exactly once); every
answer is stored before Slack gets its answer and owes the issue a note (`request_notes`, posted once
by the POST_NOTES job).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import feedback as rules
from bot.domain.feedback import OUTCOME_ANSWERS, Step
from bot.messages import feedback as messages
from bot.services.notices import NoticeService
from bot.services.people import zone_named
from bot.services.reminders import NotAllowed, ReminderService, Stale
from bot.services.runner import Result, Status
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.feedback import OutcomeCheckin, SatisfactionRating
from bot.store.models import JobKind, Person, Request, RequestNote, RequestStatus

log = logging.getLogger(__name__)
BATCH = 200  # check-ins a pass asks or nudges at most; the rest are due again next pass
KIND = "outcome_checkin"

Message = tuple[str, list[dict[str, Any]]]


class FeedbackService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, reminders: ReminderService, notices: NoticeService):
        self.db = db
        self.catalog = catalog
        self.reminders = reminders
        self.notices = notices

    # --- planning check-ins ---------------------------------------------------------------------

    def plan_checkins(self, s: Session, request: Request) -> None:
        """The request's check-ins, `outcome_after_days` after its launch, in the caller's transaction. Those
        not asked yet follow a launch date that moved; those asked stand."""
        model = self.catalog.model(request.support_model)
        if model is None or model.outcome_field is None:
            return
        launch = rules.launch_day(anchor=request.anchor_date, has_plan=model.plan is not None,
                                  closed_on=self._local_day(s, request.requester_id, request.closed_at))
        if launch is None:
            return
        planned = {c.after_days: c for c in s.scalars(
            select(OutcomeCheckin).where(OutcomeCheckin.request_id == request.id))}
        for days, due in rules.checkin_dates(launch, model.outcome_after_days):
            row = planned.get(days)
            if row is None:
                s.add(OutcomeCheckin(request_id=request.id, after_days=days, due_on=due))
            elif row.asked_at is None:
                row.due_on = due

    def on_closed(self, s: Session, request: Request, now: datetime) -> list[int]:
        """A request closed (in GitLab or from Slack): a model without a plan launched now (its check-ins
        are planned); one that went ahead and launched has ended (its rating is asked). The notices owed."""
        model = self.catalog.model(request.support_model)
        if model is None:
            return []
        if model.plan is None and rules.went_ahead(request.decision_state):
            self.plan_checkins(s, request)
        closed_on = self._local_day(s, request.requester_id, request.closed_at or now)
        launch = rules.launch_day(anchor=request.anchor_date, has_plan=model.plan is not None, closed_on=closed_on)
        if not rules.request_ended(decision_state=request.decision_state, closed_on=closed_on, launch=launch):
            return []
        asked = self.ask_satisfaction(s, request, now=now)
        return [asked] if asked is not None else []

    def _local_day(self, s: Session, user_id: str, moment: datetime | None) -> date | None:
        if moment is None:
            return None
        return moment.astimezone(self.reminders.people.zone_in(s, user_id)).date()

    # --- asking: the dispatch pass ---------------------------------------------------------------

    def _ask_at(self, person: Person | None, day: date) -> datetime:
        """The requester's reminder moment for `day`: their hour, their zone, their working days and leave."""
        tz = person.tz if person is not None else None
        return self.reminders.moment(day, tz=tz, zone=zone_named(tz, self.reminders.default_zone),
                                     country=person.country if person is not None else None,
                                     hour=person.reminder_hour if person is not None else None,
                                     paused_through=person.paused_through if person is not None else None)

    def _owed(self, s: Session, now: datetime, *, lock: bool) -> list[tuple[OutcomeCheckin, Request, Step]]:
        """The check-ins whose moment has come and those unanswered for a week, with what each owes."""
        unasked = select(OutcomeCheckin).where(
            OutcomeCheckin.asked_at.is_(None), OutcomeCheckin.due_on <= (now + rules.LOOKAHEAD).date()
        ).order_by(OutcomeCheckin.due_on, OutcomeCheckin.id).limit(BATCH)
        waiting = select(OutcomeCheckin).where(
            OutcomeCheckin.asked_at.is_not(None), OutcomeCheckin.answered_at.is_(None),
            OutcomeCheckin.nudged_at.is_(None), OutcomeCheckin.asked_at <= now - rules.NUDGE_AFTER,
        ).order_by(OutcomeCheckin.asked_at, OutcomeCheckin.id).limit(BATCH)
        if lock:  # several workers at once: each takes the rows no other holds (PostgreSQL; SQLite takes turns)
            unasked, waiting = unasked.with_for_update(skip_locked=True), waiting.with_for_update(skip_locked=True)
        rows = [*s.scalars(unasked), *s.scalars(waiting)]
        if not rows:
            return []
        requests = {r.id: r for r in s.scalars(select(Request).where(Request.id.in_({c.request_id for c in rows})))}
        people = self.reminders.people.read(s, {r.requester_id for r in requests.values()})
        owed = []
        for c in rows:
            request = requests[c.request_id]
            step = rules.checkin_step(asked_at=c.asked_at, nudged_at=c.nudged_at, answered_at=c.answered_at,
                                      ask_at=self._ask_at(people.get(request.requester_id), c.due_on), now=now)
            if step is not None:
                owed.append((c, request, step))
        return owed

    def rehearse(self, s: Session, *, at: datetime) -> list[tuple[int, str]]:
        """What a pass at `at` would ask or nudge, read only: (request id, "ask" | "nudge")."""
        return [(request.id, step.value) for _c, request, step in self._owed(s, at, lock=False)]

    def due(self, *, now: datetime) -> list[Result]:
        """Ask the check-ins whose moment has come, nudge once those unanswered for a week; send the DMs."""
        out: list[Result] = []
        owed: list[int] = []
        with self.db.session() as s:
            for c, request, step in self._owed(s, now, lock=True):
                out.append(self._owe_checkin(s, c, request, step, now=now, owed=owed))
        for notice_id in owed:
            self.notices.send(notice_id, now=now)
        return out

    def _still_wanted(self, request: Request, model: SupportModel | None) -> bool:
        if model is None or model.outcome_field is None or request.status is RequestStatus.FAILED:
            return False
        if not rules.went_ahead(request.decision_state):
            return False
        closed_on = request.closed_at.date() if request.closed_at is not None else None
        launch = rules.launch_day(anchor=request.anchor_date, has_plan=model.plan is not None, closed_on=closed_on)
        return not rules.dropped_before_launch(launch=launch, closed_on=closed_on)

    def _owe_checkin(self, s: Session, c: OutcomeCheckin, request: Request, step: Step, *, now: datetime,
                     owed: list[int]) -> Result:
        model = self.catalog.model(request.support_model)
        if not self._still_wanted(request, model):
            # Declined, dropped before launch, never filed, or no longer asked by its model: nothing to ask.
            if step is Step.ASK:
                s.delete(c)
            else:
                c.nudged_at = now  # stops here, without a DM
            return Result(KIND, c.id, request.id, Status.SKIPPED, "not asked", "the request did not go ahead")
        assert model is not None and model.outcome_field is not None
        expected = request.answers.get(model.outcome_field)
        text, blocks = messages.checkin_message(
            checkin_id=c.id, request_title=request.title, issue_url=request.gitlab_url, after_days=c.after_days,
            expected=expected if isinstance(expected, str) and expected.strip() else None, nudge=step is Step.NUDGE)
        key = f"outcome:{c.id}" if step is Step.ASK else f"outcome-nudge:{c.id}"
        owed.append(outbox.enqueue(s, key=key, recipient=request.requester_id, text=text, blocks=blocks,
                                   request_id=request.id, due_at=now).id)
        if step is Step.ASK:
            c.asked_at = now
        else:
            c.nudged_at = now
        said = "asked" if step is Step.ASK else "nudged"
        log.info("request %s: outcome check-in %s (%s days) %s", request.id, c.id, c.after_days, said,
                 extra={"event": f"outcome_{said}", "request_id": request.id, "slack_user": request.requester_id})
        return Result(KIND, c.id, request.id, Status.DONE, said, f"{c.after_days} days after launch")

    def ask_satisfaction(self, s: Session, request: Request, *, now: datetime) -> int | None:
        """Owe the requester the one rating DM of this request (None: asked before, or it did not go ahead)."""
        if not rules.went_ahead(request.decision_state) or request.status is RequestStatus.FAILED:
            return None
        if s.scalars(select(SatisfactionRating.id).where(SatisfactionRating.request_id == request.id)).first():
            return None
        try:
            with s.begin_nested():  # another process asking at the same moment: its row wins, this one is not asked
                row = SatisfactionRating(request_id=request.id, asked_at=now)
                s.add(row)
                s.flush()
        except IntegrityError:
            return None
        text, blocks = messages.satisfaction_message(rating_id=row.id, request_title=request.title,
                                                     issue_url=request.gitlab_url)
        return outbox.enqueue(s, key=f"satisfaction:{request.id}", recipient=request.requester_id, text=text,
                              blocks=blocks, request_id=request.id, due_at=now).id

    # --- answers (before Slack gets its answer: local work only) -------------------------------

    def answer_checkin(self, checkin_id: int, *, answer: str, note: str | None, user_id: str,
                       now: datetime) -> Message:
        with self.db.session() as s:
            c = s.get(OutcomeCheckin, checkin_id)
            if c is None or c.asked_at is None:
                raise Stale("This check-in no longer exists.")
            request = s.get(Request, c.request_id)
            assert request is not None
            if user_id != request.requester_id:
                raise NotAllowed
            # One answer: a second click (or a click Slack delivers twice) finds it answered and changes nothing.
            if c.answered_at is not None or not _first(s, update(OutcomeCheckin).where(
                    OutcomeCheckin.id == c.id, OutcomeCheckin.answered_at.is_(None))
                    .values(answer=answer, note=note, answered_at=now)):
                s.refresh(c)
                raise Stale(f"You answered this check-in already: {OUTCOME_ANSWERS.get(c.answer or '', c.answer)}. "
                            "Thank you!")
            model = self.catalog.model(request.support_model)
            expected = request.answers.get(model.outcome_field) if model and model.outcome_field else None
            _note(s, request, kind="outcome", who=user_id, now=now, body=rules.outcome_note(
                who=_name(s, user_id), after_days=c.after_days, answer=answer, note=note,
                expected=expected if isinstance(expected, str) and expected.strip() else None))
            return messages.checkin_answered(request_title=request.title, issue_url=request.gitlab_url,
                                             after_days=c.after_days, answer=answer, note=note, actor=user_id)

    def rate(self, rating_id: int, *, rating: int, comment: str | None, user_id: str, now: datetime) -> Message:
        with self.db.session() as s:
            row = s.get(SatisfactionRating, rating_id)
            if row is None:
                raise Stale("This question no longer exists.")
            request = s.get(Request, row.request_id)
            assert request is not None
            if user_id != request.requester_id:
                raise NotAllowed
            if row.answered_at is not None or not _first(s, update(SatisfactionRating).where(
                    SatisfactionRating.id == row.id, SatisfactionRating.answered_at.is_(None))
                    .values(rating=rating, comment=comment, answered_at=now)):
                s.refresh(row)
                raise Stale(f"You rated this request already ({row.rating} / 5). Thank you!")
            _note(s, request, kind="satisfaction", who=user_id, now=now,
                  body=rules.rating_note(who=_name(s, user_id), rating=rating, comment=comment))
            return messages.satisfaction_answered(request_title=request.title, issue_url=request.gitlab_url,
                                                  rating=rating, comment=comment, actor=user_id)


def _first(s: Session, statement: Any) -> bool:
    """Run a conditional UPDATE; True if it changed the row (nobody answered first)."""
    done: Any = s.execute(statement.execution_options(synchronize_session=False))
    return bool(done.rowcount == 1)


def _note(s: Session, request: Request, *, kind: str, body: str, who: str, now: datetime) -> None:
    """A note owed to the issue, posted once by the POST_NOTES job (bot/services/after_launch.py)."""
    s.add(RequestNote(request_id=request.id, kind=kind, body=body, add_labels=[], created_by=who, created_at=now))
    jobs.enqueue_or_wake(s, kind=JobKind.POST_NOTES, request_id=request.id, due_at=now)


def _name(s: Session, user_id: str) -> str:
    person = s.get(Person, user_id)
    return person.display_name if person is not None and person.display_name else user_id


__all__: Sequence[str] = ["FeedbackService"]
