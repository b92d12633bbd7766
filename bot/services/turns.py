"""When is my turn (§16): each waiting request's likely week, read in two SELECTs, and told again when it moves.

Reads (`board`): the teams' queues and how many each carries in one SELECT of the live accepted, approved
and waitlisted requests (bounded by capacity and the waitlist, not by history), and each team's requests
finished in the last 90 days in one counting SELECT over `ix_requests_closed` (a range of the last 90
days). An answer (a decision's DM, `/learn mine`, the Home tab) reads the board once, whatever the
number of lines it shows.

Telling again (`tell_moved`, a part of the dispatch pass at most hourly): a request whose week moved by a
week or more since the week last told (`requests.turn_week`) gets one stored DM (a notice, sent by the
runner), at most one a week per request (`turn_told_at`). A request never told a week (accepted before it
waited, or waiting before this was built) is only given its current week as the baseline: nobody is
told a change they never saw the start of.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog
from bot.domain import turns as rules
from bot.domain.decisions import IN_PROGRESS, LD_SCOPE, State
from bot.domain.turns import LikelyWeek, Queued, Team
from bot.messages.home import RequestLine
from bot.messages.turns import likely_week_moved, turn_text
from bot.services import runner
from bot.services.people import PeopleService, zone_named
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import Heartbeat, Milestone, Request, RequestStatus

LIVE = (RequestStatus.FILING, RequestStatus.OPEN)
HELD = [str(x) for x in IN_PROGRESS]
LAST_PASS = "likely-weeks"  # heartbeat row: when the last tell_moved pass ran (its `now`)
EVERY = timedelta(hours=1)
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class _Row:
    request_id: int
    scope: str
    requester_id: str
    title: str
    url: str | None
    turn_week: date | None
    turn_told_at: datetime | None


@dataclass
class Board:
    """Every queue the answer needs, in the order each team takes them, and each team's numbers."""

    queues: dict[str, list[Queued]] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    rows: dict[int, _Row] = field(default_factory=dict)

    def estimate(self, request_id: int, today: date) -> LikelyWeek | None:
        row = self.rows.get(request_id)
        if row is None:
            return None
        return rules.estimate(self.queues[row.scope], request_id, self.teams[row.scope], today)


def scope_capacity(catalog: LoadedCatalog, scope: str) -> int | None:
    """The capacity of the team deciding `scope`: the catalogue's for L&D, an approving team's own option's."""
    if scope == LD_SCOPE:
        return catalog.catalog.capacity
    value = scope.split(":", 1)[1] if ":" in scope else scope
    for model in catalog.models:
        for f in model.fields:
            for option in f.options or ():
                if option.team and option.value == value:
                    return option.capacity
    return None


def _started() -> ColumnElement[bool]:
    return select(Milestone.id).where(Milestone.request_id == Request.id, Milestone.done_at.is_not(None)).exists()


def _planned() -> ColumnElement[bool]:
    return select(Milestone.id).where(Milestone.request_id == Request.id).exists()


def _decided(catalog: LoadedCatalog, row: Any) -> bool:
    model = catalog.model(row.support_model)
    return model is None or model.needs_decision


def _order(row: Any) -> tuple[datetime, int]:
    """The order a team takes them: oldest decision first (as the deciders' card counts the waitlist)."""
    return (row.decided_at or datetime.min.replace(tzinfo=UTC), row.id)


def board(s: Session, catalog: LoadedCatalog, *, now: datetime, scopes: Iterable[str] | None = None) -> Board:
    """The queues of these teams (None: every team), in two SELECTs."""
    wanted = None if scopes is None else sorted(set(scopes))
    out = Board()
    if wanted is not None and not wanted:
        return out
    where: list[Any] = [Request.status.in_(LIVE), Request.decision_state.in_([*HELD, State.WAITLISTED.value])]
    if wanted is not None:
        where.append(Request.decision_scope.in_(wanted))
    rows = s.execute(select(
        Request.id, Request.decision_scope, Request.decision_state, Request.decided_at, Request.waitlist_until,
        Request.requester_id, Request.title, Request.gitlab_url, Request.turn_week, Request.turn_told_at,
        Request.support_model,
        _started().label("started"), _planned().label("planned"),
    ).where(*where)).all()
    finished_where: list[Any] = [
        Request.status == RequestStatus.CLOSED, Request.closed_at >= now - timedelta(days=rules.WINDOW_DAYS),
        Request.closed_at <= now, Request.decision_state.in_(HELD)]
    if wanted is not None:
        finished_where.append(Request.decision_scope.in_(wanted))
    finished = dict(s.execute(select(Request.decision_scope, func.count(Request.id))
                              .where(*finished_where).group_by(Request.decision_scope)).all())
    held: dict[str, int] = {}
    accepted: dict[str, list[Any]] = {}
    waiting: dict[str, list[Any]] = {}
    for r in rows:
        if r.decision_state in HELD:
            held[r.decision_scope] = held.get(r.decision_scope, 0) + 1
        if r.decision_state == State.WAITLISTED.value:
            waiting.setdefault(r.decision_scope, []).append(r)
        elif r.decision_state == State.ACCEPTED.value and r.planned and not r.started and _decided(catalog, r):
            # A request without a plan has no start to wait for; one its model accepts on filing (live
            # learning: the requester hosts it) is nobody's turn to take.
            accepted.setdefault(r.decision_scope, []).append(r)
    for scope in {r.decision_scope for r in rows} | set(finished):
        queue = sorted(accepted.get(scope, []), key=_order) + sorted(waiting.get(scope, []), key=_order)
        out.queues[scope] = [Queued(r.id, waitlisted=r.decision_state == State.WAITLISTED.value,
                                    not_before=r.waitlist_until) for r in queue]
        out.teams[scope] = Team(capacity=scope_capacity(catalog, scope), in_progress=held.get(scope, 0),
                                finished=int(finished.get(scope, 0)))
        out.rows.update({r.id: _Row(r.id, scope, r.requester_id, r.title, r.gitlab_url, r.turn_week, r.turn_told_at)
                         for r in queue})
    return out


class TurnService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, people: PeopleService, default_zone: ZoneInfo):
        self.db = db
        self.catalog = catalog
        self.people = people
        self.default_zone = default_zone

    # --- in an answer ----------------------------------------------------------------------

    def for_request(self, s: Session, request: Request, *, now: datetime) -> tuple[LikelyWeek, date] | None:
        """A request's likely week and its requester's today, in the caller's transaction (a decision's DM)."""
        return self.for_scope(s, request.decision_scope, now=now).get(request.id)

    def for_scope(self, s: Session, scope: str, *, now: datetime) -> dict[int, tuple[LikelyWeek, date]]:
        """Every queued request of one team with its likely week and its requester's today: the board and
        the requesters' zones read once (a waitlist that moved up)."""
        b = board(s, self.catalog, now=now, scopes=[scope])
        people = PeopleService.read(s, [row.requester_id for row in b.rows.values()])
        out = {}
        for row in b.rows.values():
            person = people.get(row.requester_id)
            today = now.astimezone(zone_named(person.tz if person else None, self.default_zone)).date()
            week = b.estimate(row.request_id, today)
            if week is not None:
                out[row.request_id] = (week, today)
        return out

    def annotate(self, lines: list[RequestLine], *, today: date, now: datetime) -> list[RequestLine]:
        """`/learn mine` and Home: each waiting line with its likely week; nothing read when none waits."""
        waiting = [ln for ln in lines if ln.decision in (State.ACCEPTED.value, State.WAITLISTED.value)]
        if not waiting:
            return lines
        with self.db.session() as s:
            b = board(s, self.catalog, now=now, scopes=[ln.scope for ln in waiting])
        ids = {ln.request_id for ln in waiting}
        out = []
        for ln in lines:
            week = b.estimate(ln.request_id, today) if ln.request_id in ids else None
            out.append(replace(ln, likely=turn_text(week, today)) if week is not None else ln)
        return out

    # --- the dispatch pass -------------------------------------------------------------------

    def due(self, s: Session, now: datetime) -> bool:
        beat = s.get(Heartbeat, LAST_PASS)
        return beat is None or now - beat.at >= EVERY or beat.at > now + SKEW

    def tell_moved(self, *, now: datetime) -> list[runner.Result]:
        """Requests whose likely week moved by a week or more: one stored DM each (at most hourly)."""
        out: list[runner.Result] = []
        with self.db.session() as s:
            if not self.due(s, now):
                return out
            b = board(s, self.catalog, now=now)
            people = PeopleService.read(s, [row.requester_id for row in b.rows.values()])
            for row in b.rows.values():
                person = people.get(row.requester_id)
                today = now.astimezone(zone_named(person.tz if person else None, self.default_zone)).date()
                week = b.estimate(row.request_id, today)
                if week is not None:
                    out += self._check(s, row, week, today, now)
            _beat(s, now)
        return out

    def _check(self, s: Session, row: _Row, week: LikelyWeek, today: date, now: datetime) -> list[runner.Result]:
        if row.turn_told_at is None:  # never told: the baseline, silently
            _mark(s, row, week.week, now)
            return []
        if not rules.retell(told_week=row.turn_week, told_at=row.turn_told_at, now_week=week, now=now,
                            today=today):
            return []
        if not _mark(s, row, week.week, now):
            return []  # another worker's pass told it first
        text, blocks = likely_week_moved(title=row.title, url=row.url, likely=week, was=row.turn_week, today=today)
        assert week.week is not None
        outbox.enqueue(s, key=f"likely-week:{row.request_id}:{week.week.isoformat()}:{now.date().isoformat()}",
                       recipient=row.requester_id, text=text, blocks=blocks, request_id=row.request_id, due_at=now)
        return [runner.Result("likely_week", row.request_id, row.request_id, runner.Status.DONE, "told",
                              week.text(today))]


def _mark(s: Session, row: _Row, week: date | None, now: datetime) -> bool:
    """Record the week told (or the baseline), only if no other pass recorded one since this one read it."""
    told = Request.turn_told_at.is_(None) if row.turn_told_at is None else Request.turn_told_at == row.turn_told_at
    done: Any = s.execute(update(Request).where(Request.id == row.request_id, told)
                          .values(turn_week=week, turn_told_at=now).execution_options(synchronize_session=False))
    return bool(done.rowcount == 1)


def _beat(s: Session, now: datetime) -> None:
    """The pass ran at `now` (an upsert: two workers' passes may both write it)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Heartbeat).values(name=LAST_PASS, at=now)
    s.execute(stmt.on_conflict_do_update(index_elements=[Heartbeat.name], set_={"at": stmt.excluded.at}))
