"""Views of all the work: my open requests, the triage queue, what is coming up and what is overdue.

Read-only queries shared by the App Home, `/learn mine` and the channel digest. Each one is
bounded (a limit, and a count of the rest) so a view costs the same with ten or ten thousand
requests.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import selectinload

from bot.catalog import LoadedCatalog
from bot.domain.after_launch import REVIEW_KEY
from bot.domain.decisions import IN_PROGRESS, LD_SCOPE, Capacity
from bot.domain.reminders import recipients
from bot.domain.routing import co_owners
from bot.gateways.slack import SlackGateway
from bot.messages.home import Bounded, OverdueStep, RequestLine, home_unavailable_view, home_view, mine_message
from bot.services.people import PeopleService
from bot.services.turns import TurnService
from bot.store.db import Database
from bot.store.models import Milestone, Reminder, Request, RequestStatus
from bot.store.outage import is_outage

OPEN = (RequestStatus.FILING, RequestStatus.OPEN)


def _review_pending() -> ColumnElement[bool]:
    """The request has an evergreen review whose reminder is still to come."""
    return (select(Milestone.id).join(Reminder)
            .where(Milestone.request_id == Request.id, Milestone.key == REVIEW_KEY, Milestone.done_at.is_(None),
                   Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None)).exists())


class OverviewService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog):
        self.db = db
        self.catalog = catalog

    def _name(self, key: str) -> str:
        model = self.catalog.model(key)
        return model.name if model else key

    def _line(self, r: Request, *, next_step: Milestone | None = None) -> RequestLine:
        model = self.catalog.model(r.support_model)
        return RequestLine(
            request_id=r.id, title=r.title, url=r.gitlab_url, model_name=self._name(r.support_model),
            requester_id=r.requester_id, status=r.status, created_at=r.created_at, score=r.triage_score,
            when=r.anchor_date, next_step=next_step.title if next_step else None,
            next_due=next_step.due_on if next_step else None, has_plan=bool(model and model.plan and r.milestones),
            decision=r.decision_state, scope=r.decision_scope,
        )

    def ld_capacity(self) -> Capacity:
        """Accepted, open requests the L&D team carries, against the catalogue's capacity."""
        with self.db.session() as s:
            count = s.scalar(select(func.count(Request.id)).where(
                Request.decision_scope == LD_SCOPE, Request.status.in_(OPEN),
                Request.decision_state.in_([str(x) for x in IN_PROGRESS]))) or 0
        return Capacity(int(count), self.catalog.catalog.capacity)

    def mine(self, user_id: str, *, limit: int = 20) -> Bounded[RequestLine]:
        """The user's open requests (as requester), soonest next step first."""
        with self.db.session() as s:
            # Also a closed request whose evergreen review is still to come (launched content outlives its issue).
            where = (Request.requester_id == user_id, or_(Request.status.in_(OPEN), _review_pending()))
            total = s.scalar(select(func.count()).select_from(Request).where(*where)) or 0
            rows = list(s.scalars(select(Request).where(*where).options(selectinload(Request.milestones))
                                  .order_by(Request.created_at.desc()).limit(200)))
            lines = []
            for r in rows:
                pending = [m for m in r.milestones if m.done_at is None
                           and (r.status in OPEN or m.key == REVIEW_KEY)]  # closed: only its evergreen review
                lines.append(self._line(r, next_step=min(pending, key=lambda m: (m.due_on, m.position), default=None)))
        lines.sort(key=lambda ln: (ln.next_due or date.max, -ln.created_at.timestamp()))
        return Bounded(lines[:limit], total)

    def triage_queue(self, *, limit: int = 10) -> Bounded[RequestLine]:
        """Open requests with a triage score, highest first (ties: oldest first)."""
        with self.db.session() as s:
            where = (Request.status.in_(OPEN), Request.triage_score.is_not(None))
            total = s.scalar(select(func.count()).select_from(Request).where(*where)) or 0
            rows = s.scalars(select(Request).where(*where).options(selectinload(Request.milestones))
                             .order_by(Request.triage_score.desc(), Request.created_at).limit(limit))
            return Bounded([self._line(r) for r in rows], total)

    def new_since(self, since: datetime, *, limit: int = 10) -> Bounded[RequestLine]:
        with self.db.session() as s:
            where = (Request.created_at > since, Request.status != RequestStatus.FAILED)
            total = s.scalar(select(func.count()).select_from(Request).where(*where)) or 0
            rows = s.scalars(select(Request).where(*where).options(selectinload(Request.milestones))
                             .order_by(Request.created_at).limit(limit))
            return Bounded([self._line(r) for r in rows], total)

    def coming_up(self, start: date, end: date, *, limit: int = 10) -> Bounded[RequestLine]:
        """Open requests whose launch, session or needed-by date falls in [start, end]."""
        with self.db.session() as s:
            where = (Request.status.in_(OPEN), Request.anchor_date >= start, Request.anchor_date <= end)
            total = s.scalar(select(func.count()).select_from(Request).where(*where)) or 0
            rows = s.scalars(select(Request).where(*where).options(selectinload(Request.milestones))
                             .order_by(Request.anchor_date, Request.id).limit(limit))
            return Bounded([self._line(r) for r in rows], total)

    def overdue(self, today: date, *, limit: int = 10, owner: str | None = None) -> Bounded[OverdueStep]:
        """Steps not done whose date has passed, oldest first, with who owns them."""
        with self.db.session() as s:
            where = [Milestone.done_at.is_(None), Milestone.due_on < today, Request.status.in_(OPEN)]
            if owner is not None:
                where.append(Request.requester_id == owner)
            total = s.scalar(select(func.count()).select_from(Milestone).join(Request).where(*where)) or 0
            rows = s.execute(select(Milestone, Request).join(Request).where(*where)
                             .order_by(Milestone.due_on, Milestone.id).limit(limit)).all()
            return Bounded([self._overdue(m, r) for m, r in rows], total)

    def reviews_due(self, start: date, end: date, *, limit: int = 10) -> Bounded[OverdueStep]:
        """Evergreen reviews due in [start, end] that someone is still to be asked about, soonest first."""
        with self.db.session() as s:
            where = [Milestone.key == REVIEW_KEY, Milestone.done_at.is_(None), Milestone.due_on >= start,
                     Milestone.due_on <= end, Request.status != RequestStatus.FAILED,
                     select(Reminder.id).where(Reminder.milestone_id == Milestone.id,
                                               Reminder.cancelled_at.is_(None)).exists()]
            total = s.scalar(select(func.count()).select_from(Milestone).join(Request).where(*where)) or 0
            rows = s.execute(select(Milestone, Request).join(Request).where(*where)
                             .order_by(Milestone.due_on, Milestone.id).limit(limit)).all()
            return Bounded([self._overdue(m, r) for m, r in rows], total)

    def _overdue(self, m: Milestone, r: Request) -> OverdueStep:
        model = self.catalog.model(r.support_model)
        owners = recipients(r.requester_id, co_owners(model, r.answers, r.requester_id) if model else [])
        return OverdueStep(request_id=r.id, request_title=r.title, url=r.gitlab_url,
                           model_name=self._name(r.support_model), step=m.title, due_on=m.due_on,
                           owners=tuple(owners))


class HomeService:
    """Publishes the App Home tab and answers `/learn mine`."""

    def __init__(self, *, overview: OverviewService, people: PeopleService, slack: SlackGateway,
                 catalog: LoadedCatalog, admins: frozenset[str], turns: TurnService | None = None):
        self.overview = overview
        self.turns = turns
        self.people = people
        self.slack = slack
        self.catalog = catalog
        self.admins = admins

    def _mine(self, user_id: str, today: date, now: datetime) -> Bounded[RequestLine]:
        """My open requests; the waiting ones with their likely week (the queues read once, not per line)."""
        mine = self.overview.mine(user_id)
        if self.turns is None:
            return mine
        return Bounded(self.turns.annotate(mine.shown, today=today, now=now), mine.total)

    def home_view(self, user_id: str, *, now: datetime) -> dict[str, Any]:
        self.people.refresh(user_id, now=now)
        today = self.people.local_today(user_id, now)
        is_admin = user_id in self.admins
        return home_view(self.catalog, mine=self._mine(user_id, today, now), today=today,
                         queue=self.overview.triage_queue() if is_admin else None,
                         overdue=self.overview.overdue(today) if is_admin else None,
                         capacity=self.overview.ld_capacity().text() if is_admin else None)

    def publish(self, user_id: str, *, now: datetime) -> None:
        try:
            view = self.home_view(user_id, now=now)
        except Exception as exc:
            if not is_outage(exc):
                raise
            view = home_unavailable_view()  # the outage itself is logged once (bot/store/outage.py)
        self.slack.publish_home(user_id, view)

    def mine(self, user_id: str, *, now: datetime) -> tuple[str, list[dict[str, Any]]]:
        today = self.people.local_today(user_id, now)
        return mine_message(self._mine(user_id, today, now), today)
