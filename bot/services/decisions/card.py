"""The deciders' card (§12): who decides a request, the team's capacity and waitlist, and the message's thread.

Reads only: the card is built from the store in whichever transaction needs it (filing, a decision,
an update of the message), so what the deciders see is what was just committed.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import decisions as rules
from bot.domain.decisions import Capacity, Route, State
from bot.domain.routing import selected_options
from bot.messages import decisions as messages
from bot.messages.decisions import RequestCard, SimilarRef
from bot.messages.kit import Block
from bot.store import jobs
from bot.store.models import JobKind, Notice, Request, RequestStatus, SimilarRequest

LIVE = (RequestStatus.FILING, RequestStatus.OPEN)
TEAM_FIELDS = ("team", "audience", "contributor_audience")  # the requester's team, else who it is for


def message_key(request_id: int) -> str:
    """The key of the deciders' message (a Notice): stored in the database, so it keeps its first name."""
    return f"triage:{request_id}"


def posted_message(s: Session, request_id: int) -> Notice | None:
    return s.scalars(select(Notice).where(Notice.key == message_key(request_id))).first()


def thread_of(s: Session, request_id: int) -> tuple[str, str] | None:
    """(channel, ts) of the deciders' message once Slack has it: its thread is the request's history."""
    posted = posted_message(s, request_id)
    if posted is None or posted.slack_ts is None or posted.slack_channel is None:
        return None
    return posted.slack_channel, posted.slack_ts


def capacity(s: Session, r: Route) -> Capacity:
    count = s.scalar(select(func.count(Request.id)).where(
        Request.decision_scope == r.scope, Request.decision_state.in_([str(x) for x in rules.IN_PROGRESS]),
        Request.status.in_(LIVE)))
    return Capacity(int(count or 0), r.capacity)


def waitlist(s: Session, scope: str) -> list[int]:
    return list(s.scalars(select(Request.id).where(
        Request.decision_scope == scope, Request.decision_state == State.WAITLISTED.value,
        Request.status.in_(LIVE)).order_by(Request.decided_at, Request.id)))


def wake_undecided(s: Session, scope: str, *, now: datetime) -> None:
    """Capacity changed: the team's other undecided messages are redrawn to show it."""
    for rid in s.scalars(select(Request.id).where(
            Request.decision_scope == scope, Request.decision_state.in_([str(x) for x in rules.UNDECIDED]),
            Request.status.in_(LIVE))):
        jobs.enqueue_or_wake(s, kind=JobKind.DECISION_MESSAGE, request_id=rid, due_at=now)


class Cards:
    """Routes and cards from the catalogue; `channel` is LEARNBOT_TRIAGE_CHANNEL (None: not set)."""

    def __init__(self, *, catalog: LoadedCatalog, channel: str | None):
        self.catalog = catalog
        self.default_channel = channel

    def route_of(self, model: SupportModel | None, answers: dict[str, Any]) -> Route:
        if model is None:
            return Route(scope=rules.LD_SCOPE, team="L&D", lxp=False, capacity=self.catalog.catalog.capacity)
        return rules.route(model, answers, ld_capacity=self.catalog.catalog.capacity)

    def route_of_request(self, request: Request) -> Route:
        return self.route_of(self.catalog.model(request.support_model), request.answers)

    def channel(self, r: Route) -> str | None:
        return r.channel or self.default_channel

    def message(self, s: Session, request: Request) -> tuple[str, list[Block]]:
        """The deciders' message as the request stands now."""
        return messages.deciders_message(self.card(s, request, self.catalog.model(request.support_model)))

    def card(self, s: Session, request: Request, model: SupportModel | None, r: Route | None = None) -> RequestCard:
        r = r or self.route_of(model, request.answers)
        answers = request.answers or {}
        impact = selected_options(model, answers).get("business_impact") if model else None
        queue = waitlist(s, r.scope) if request.decision_state == State.WAITLISTED else []
        return RequestCard(
            request_id=request.id, version=request.decision_version, title=request.title,
            model_name=model.name if model else request.support_model, requester=request.requester_id, route=r,
            state=request.decision_state, capacity=capacity(s, r), url=request.gitlab_url,
            iid=request.gitlab_iid,
            business_impact=impact.label if impact is not None and not isinstance(impact, list) else (
                str(answers["business_impact"]) if answers.get("business_impact") else None),
            okr_url=str(answers["okr_url"]) if answers.get("okr_url") else None,
            impacted=str(answers["impacted_people"]) if answers.get("impacted_people") else None,
            score=request.triage_score, dates=_dates(request, model, answers), plan_compressed=request.plan_compressed,
            decided_by=request.decided_by, decided_at=request.decided_at, reason=request.decision_reason,
            waitlist_until=request.waitlist_until, waitlist_place=rules.waitlist_place(queue, request.id),
            needs_decision=model.needs_decision if model else True,
            closed=request.status is RequestStatus.CLOSED,
            # Found when the issue is filed (bot/services/similar.py): before that there is nothing to read.
            similar=self.similar(s, request.id) if request.gitlab_iid is not None else [],
        )

    def similar(self, s: Session, request_id: int) -> list[SimilarRef]:
        """The filed requests that read like this one (docs/similar-requests.md), best first."""
        rows = s.execute(
            select(SimilarRequest, Request).join(Request, Request.id == SimilarRequest.similar_id)
            .where(SimilarRequest.request_id == request_id)
            .order_by(SimilarRequest.score.desc(), SimilarRequest.similar_id)).all()
        return [SimilarRef(iid=r.gitlab_iid, url=r.gitlab_url, linked=pair.linked_at is not None,
                           team=team_of(self.catalog.model(r.support_model), r.answers or {}))
                for pair, r in rows if r.gitlab_iid is not None and r.gitlab_url]


def team_of(model: SupportModel | None, answers: dict[str, Any]) -> str | None:
    """The requester's team as the request holds it (its "team" answer), else the audience's labels."""
    chosen = selected_options(model, answers) if model is not None else {}
    for name in TEAM_FIELDS:
        picked = chosen.get(name)
        if picked is not None:
            labels = [o.label for o in (picked if isinstance(picked, list) else [picked])]
            if labels:
                return ", ".join(labels)
        elif isinstance(answers.get(name), str) and str(answers[name]).strip():
            return str(answers[name]).strip()
    return None


def _dates(request: Request, model: SupportModel | None, answers: dict[str, Any]) -> list[tuple[str, date]]:
    """The plan's anchor date; without a plan, every date the requester gave."""
    if model is not None and model.plan is not None and request.anchor_date is not None:
        return [(model.field(model.plan.anchor).label, request.anchor_date)]
    dates: list[tuple[str, date]] = []
    for f in (model.fields if model else ()):
        if f.type == "date" and answers.get(f.id):
            with contextlib.suppress(ValueError):
                dates.append((f.label, date.fromisoformat(str(answers[f.id]))))
    return dates
