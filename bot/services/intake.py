"""Intake: from a filled-in modal to a stored request with its plan, ready to be filed in GitLab."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain.after_launch import with_review
from bot.domain.planning import Plan, plan_milestones
from bot.domain.scoring import TriageFormulaError, score_request
from bot.domain.validation import Checked, Raw, anchor_of, check_answers, to_json
from bot.gateways.slack import SlackGateway
from bot.messages import forms
from bot.services.decisions import DecisionService
from bot.services.issues import issue_title
from bot.services.people import PeopleService
from bot.services.reminders import ReminderService
from bot.services.shortcuts import ShortcutService
from bot.store import jobs
from bot.store.db import Database, insert_rows
from bot.store.models import JobKind, Milestone, Request

log = logging.getLogger(__name__)


class UnknownModel(LookupError):
    pass


@dataclass
class Submitted:
    """What the requester is told right after pressing Submit."""

    request_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    duplicate: bool = False
    title: str = ""
    plan: Plan | None = None


class IntakeService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, people: PeopleService, slack: SlackGateway,
                 handbook_prefixes: list[str], reminders: ReminderService, decisions: DecisionService | None = None):
        self.db = db
        self.reminders = reminders
        self.decisions = decisions
        self.slack = slack
        self.catalog = catalog
        self.people = people
        self.handbook_prefixes = handbook_prefixes

    def model(self, key: str) -> SupportModel:
        model = self.catalog.model(key)
        if model is None:
            raise UnknownModel(key)
        return model

    def open_form(self, *, trigger_id: str, user_id: str, model_key: str) -> None:
        """Open the model's modal (trigger ids live 3 s: nothing else is done before or with it).

        The listener also has `people.refresh` run, separately, so the requester's time zone is
        cached before they press Submit ("is this date in the past?" is asked in their calendar).
        """
        model = self.model(model_key)
        self.slack.open_view(trigger_id, forms.request_modal(model, requester=user_id))

    def redraw_form(self, *, view_id: str, view_hash: str | None, user_id: str, model_key: str,
                    selected: Mapping[str, Raw], source: int | None = None) -> None:
        """Show the fields that belong to the new choice (e.g. what a Channel creator kit needs)."""
        model = self.model(model_key)
        self.slack.update_view(view_id, forms.request_modal(model, requester=user_id, selected=selected,
                                                            source=source), view_hash)

    def check(self, model: SupportModel, raw: Mapping[str, Raw], *, user_id: str, now: datetime,
              today: date | None = None) -> Checked:
        checked = check_answers(
            model, raw, today=today or self.people.local_today(user_id, now), now=now,
            handbook_prefixes=self.handbook_prefixes,
        )
        if checked.ok and model.triage is not None:
            try:
                score_request(model.triage, checked.answers, self.catalog.expression,
                              field_ids=[f.id for f in model.fields])
            except TriageFormulaError as exc:
                # The admin's formula, not the requester, is at fault; say so where they can act.
                log.error("%s: %s", model.key, exc)
                checked.errors["business_impact"] = (
                    "learnbot could not score this answer; the L&D team has been told. Try another value."
                )
        return checked

    def submit(
        self, model_key: str, raw: Mapping[str, Raw], *, user_id: str, view_id: str | None, now: datetime,
        source_id: int | None = None,
    ) -> Submitted:
        """Validate and store a submission; the same Slack view submitted twice is stored once.

        This runs before Slack gets its answer, in one transaction of a few statements (a unit test
        counts them): the requester's zone, then the request, its milestones, its reminders (each
        person read once) and its filing job, one INSERT each. A repeated delivery of the same view
        is told apart by the unique view id, so the usual case pays no look-up for it.
        """
        model = self.model(model_key)
        try:
            with self.db.session() as s:
                zone = self.people.zone_in(s, user_id)
                today = now.astimezone(zone).date()
                checked = self.check(model, raw, user_id=user_id, now=now, today=today)
                if not checked.ok:
                    return Submitted(errors=checked.errors)
                request, plan = self._store(s, model, checked, user_id=user_id, view_id=view_id, zone=zone,
                                            today=today, now=now, source_id=source_id)
        except IntegrityError:
            # The same view stored already (a Slack retry, a double click, or a delivery racing this one).
            existing = self._stored_view(view_id)
            if existing is None:
                raise
            return existing
        log.info("stored request %s (%s) from %s", request.id, model.key, user_id)
        return Submitted(request_id=request.id, title=request.title, plan=plan)

    def _stored_view(self, view_id: str | None) -> Submitted | None:
        if not view_id:
            return None
        with self.db.session() as s:
            existing = s.scalars(select(Request).where(Request.slack_view_id == view_id)).first()
        if existing is None:
            return None
        return Submitted(request_id=existing.id, duplicate=True, title=existing.title)

    def _store(self, s: Session, model: SupportModel, checked: Checked, *, user_id: str, view_id: str | None,
               zone: ZoneInfo, today: date, now: datetime, source_id: int | None) -> tuple[Request, Plan | None]:
        answers = checked.answers
        anchor = anchor_of(model, answers, zone)
        plan = plan_milestones(model.plan, anchor, today) if (
            model.plan is not None and anchor is not None) else None
        if plan is not None and anchor is not None and model.review_after is not None:
            plan = with_review(plan, anchor, model.review_after)  # evergreen: the content is reviewed after launch
        triage = score_request(model.triage, answers, self.catalog.expression,
                               field_ids=[f.id for f in model.fields]) if model.triage else None
        request = Request(
            support_model=model.key, requester_id=user_id, title=issue_title(self.catalog, model, answers),
            answers=to_json(answers), slack_view_id=view_id, anchor_date=anchor,
            plan_compressed=bool(plan and plan.compressed), triage_score=triage.score if triage else None,
            created_at=now, updated_at=now,
        )
        s.add(request)
        # Routed before the INSERT, so the decision's fields go in with it; a request that waits for a
        # decision starts its reminders when it is accepted.
        starts_now = self.decisions is None or self.decisions.on_submitted(s, request, model, now=now)
        s.flush()
        steps = list(plan.milestones if plan else ())
        if steps:
            # One INSERT; RETURNING gives each row's position with its id, so no order has to be kept.
            stored = s.execute(insert_rows(Milestone).returning(Milestone.id, Milestone.position), [{
                "request_id": request.id, "key": m.key, "title": m.title, "position": position,
                "due_on": m.due_on, "pulled_forward": m.pulled_forward,
                "done_at": now if m.done else None, "done_by": "learnbot" if m.done else None,
            } for position, m in enumerate(steps)]).all()
            ids = {position: milestone_id for milestone_id, position in stored}
            if starts_now:
                self.reminders.plan_reminders(
                    s, requester_id=user_id, answers=request.answers, model=model,
                    open_milestones=[(ids[i], m.due_on) for i, m in enumerate(steps) if not m.done])
        if source_id is not None:  # opened from a message (the shortcut): its link goes into the issue
            ShortcutService.attach(s, source_id, user_id=user_id, request_id=request.id)
        jobs.enqueue(s, kind=JobKind.FILE_ISSUE, request_id=request.id, due_at=now)
        return request, plan


