"""The L&D leader's report (SPEC §16): each section one bounded query over the rows of its period.

A section reads only what its period holds: requests filed in it (ix_requests_created), decisions made in
it (ix_decision_events_created_at), anchor dates and steps due in it (ix_requests_anchor_date,
ix_milestones_due_on), notes written in it (ix_request_notes_kind_created), and for capacity the open
requests plus those closed after its end (ix_requests_status, ix_requests_closed). None of them grows with
the history outside the period (bench/report.py measures it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import report as rules
from bot.domain.decisions import IN_PROGRESS, LD_SCOPE, State
from bot.domain.feedback import OUTCOME_ANSWERS
from bot.domain.report import Period
from bot.domain.routing import selected_options
from bot.services.similar import clusters_found
from bot.store.db import Database
from bot.store.feedback import OutcomeCheckin, SatisfactionRating
from bot.store.models import DecisionEvent, Milestone, Request, RequestNote, RequestStatus

# Decision history rows that are decisions (a requester's answer is not; a label set in GitLab is).
DECIDING_KINDS = ("decided", "asked", "gitlab")
REVIEW_STEP = "evergreen-review"
LIVE = (RequestStatus.FILING, RequestStatus.OPEN)


@dataclass(frozen=True)
class Window:
    """One period, as the sections read it."""

    period: Period
    start: datetime  # the period's first moment (UTC)
    end: datetime  # the moment after its last day (UTC)
    now: datetime
    zone: ZoneInfo
    # Rows two sections share (received, decisions, the chart): read once per period.
    rows: dict[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


Section = Callable[[Session, Window], Any]


class ReportService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, zone: ZoneInfo):
        self.db = db
        self.catalog = catalog
        self.zone = zone
        # The report is a list of sections, each one function; their keys are the JSON contract's.
        self.sections: list[tuple[str, Section]] = [
            ("received", self._received),
            ("decisions", self._decisions),
            ("launches", self._launches),
            ("milestones", self._milestones),
            ("capacity", self._capacity),
            ("reviews", self._reviews),
            ("outcomes", self._outcomes),
            ("satisfaction", self._satisfaction),
            ("similar", self._similar),
            ("weekly", self._weekly),
        ]

    # --- the whole report -----------------------------------------------------------------------

    def default_period(self, now: datetime) -> Period:
        return rules.last_full_month(now.astimezone(self.zone).date())

    def period(self, start: str | None, end: str | None, *, now: datetime) -> Period:
        return asked_period(start, end, now=now, zone=self.zone)

    def build(self, period: Period, *, now: datetime) -> dict[str, Any]:
        """The JSON contract: this period's numbers and, under "previous", the period before's."""
        with self.db.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                # Each section reads one index range of a period: tens of rows. With a million rows of history
                # the planner's guess for a range at the edge of its histogram is thousands, and it starts
                # parallel workers whose start-up costs more than the scan (bench/report.py: 15 -> 33 ms).
                s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            report = self._one(s, period, now)
            report["previous"] = self._one(s, period.previous(), now)
        return report

    def _one(self, s: Session, period: Period, now: datetime) -> dict[str, Any]:
        start, end = period.bounds(self.zone)
        w = Window(period, start, end, now, self.zone)
        out: dict[str, Any] = {"from": period.start.isoformat(), "to": period.end.isoformat()}
        for key, section in self.sections:
            out[key] = section(s, w)
        return out

    # --- sections -------------------------------------------------------------------------------

    def _received_rows(self, s: Session, w: Window) -> list[rules.Received]:
        if "received" in w.rows:
            return list(w.rows["received"])
        rows = s.execute(select(Request.id, Request.support_model, Request.answers, Request.created_at)
                         .where(Request.created_at >= w.start, Request.created_at < w.end))
        got = [rules.Received(rid, model, self._audiences(model, answers or {}), at)
               for rid, model, answers, at in rows]
        w.rows["received"] = got
        return got

    def _received(self, s: Session, w: Window) -> dict[str, Any]:
        return rules.received(self._received_rows(s, w))

    def _decision_rows(self, s: Session, w: Window) -> list[rules.DecisionRow]:
        if "decisions" in w.rows:
            return list(w.rows["decisions"])
        rows = list(s.execute(
            select(DecisionEvent.request_id, DecisionEvent.version, DecisionEvent.state, DecisionEvent.created_at,
                   DecisionEvent.text, Request.support_model, Request.created_at)
            .join(Request, Request.id == DecisionEvent.request_id)
            .where(DecisionEvent.created_at >= w.start, DecisionEvent.created_at < w.end,
                   DecisionEvent.kind.in_(DECIDING_KINDS))))
        ids = {r[0] for r in rows}
        first: dict[int, int] = {}
        for chunk in _chunks(sorted(ids)):  # each request's first decision: by its id, not a scan of history
            first.update({rid: version for rid, version in s.execute(
                select(DecisionEvent.request_id, func.min(DecisionEvent.version))
                .where(DecisionEvent.request_id.in_(chunk), DecisionEvent.kind.in_(DECIDING_KINDS))
                .group_by(DecisionEvent.request_id))})
        made = [rules.DecisionRow(rid, model, state, at, reason, filed, first.get(rid) == version,
                                  self._decide_within(model))
                for rid, version, state, at, reason, model, filed in rows]
        w.rows["decisions"] = made
        return made

    def _decisions(self, s: Session, w: Window) -> dict[str, Any]:
        return rules.decisions(self._decision_rows(s, w))

    def _launches(self, s: Session, w: Window) -> dict[str, Any]:
        last = min(w.period.end, w.today)  # an anchor date reached: in the period and not in the future
        launched = list(s.execute(select(Request.id, Request.anchor_date, Request.decided_at)
                                  .where(Request.anchor_date >= w.period.start, Request.anchor_date <= last,
                                         Request.decision_state.in_([str(x) for x in IN_PROGRESS]),
                                         Request.status != RequestStatus.FAILED)))
        ids = [r[0] for r in launched]
        accepted: dict[int, datetime] = {}
        late: set[int] = set()
        anchors: dict[int, date] = {rid: anchor for rid, anchor, _ in launched if anchor is not None}
        for chunk in _chunks(ids):
            for rid, at in s.execute(select(DecisionEvent.request_id, func.min(DecisionEvent.created_at))
                                     .where(DecisionEvent.request_id.in_(chunk),
                                            DecisionEvent.state.in_([str(x) for x in IN_PROGRESS]))
                                     .group_by(DecisionEvent.request_id)):
                accepted[rid] = at
            for rid, due_on, done_at in s.execute(select(Milestone.request_id, Milestone.due_on, Milestone.done_at)
                                                  .where(Milestone.request_id.in_(chunk))):
                if due_on <= anchors[rid] and (done_at is None or w.local_day(done_at) > anchors[rid]):
                    late.add(rid)
        rows = [rules.LaunchRow(rid, anchors[rid], accepted.get(rid, decided_at), rid not in late)
                for rid, _anchor, decided_at in launched]
        return rules.launches(rows, self.zone)

    def _milestones(self, s: Session, w: Window) -> dict[str, Any]:
        rows = s.execute(select(Request.support_model, Milestone.key, Milestone.due_on, Milestone.done_at)
                         .join(Request, Request.id == Milestone.request_id)
                         .where(Milestone.due_on >= w.period.start, Milestone.due_on <= w.period.end,
                                Milestone.key != REVIEW_STEP, Request.status != RequestStatus.FAILED,
                                # Work the team took on: a declined or waitlisted request's plan never started.
                                Request.decision_state.in_([str(x) for x in IN_PROGRESS])))
        return rules.milestones(rules.StepRow(model, key, due, w.local_day(done) if done else None)
                                for model, key, due, done in rows)

    def _capacity(self, s: Session, w: Window) -> list[dict[str, Any]]:
        """Each team at the period's end: requests accepted by then and not closed by then, and its waitlist.

        Read from the requests' present state: the open ones, and those closed after the end."""
        states = [str(x) for x in IN_PROGRESS] + [State.WAITLISTED.value]
        columns = select(Request.decision_scope, Request.decision_state, Request.decided_at).where(
            Request.decision_state.in_(states), Request.decided_at < w.end)
        # Two ranges of two indexes (not an OR, which a planner may answer with a scan of every request).
        rows = [*s.execute(columns.where(Request.status.in_(LIVE))),
                *s.execute(columns.where(Request.status == RequestStatus.CLOSED, Request.closed_at >= w.end))]
        in_progress: dict[str, int] = {}
        waiting: dict[str, list[datetime]] = {}
        for scope, state, decided_at in rows:
            if state == State.WAITLISTED.value:
                waiting.setdefault(scope, []).append(decided_at)
            else:
                in_progress[scope] = in_progress.get(scope, 0) + 1
        teams = [rules.TeamRow(team, cap, in_progress.get(scope, 0), tuple(waiting.get(scope, ())))
                 for scope, team, cap in self._teams()]
        return rules.capacity(teams, end=min(w.end, w.now))

    def _reviews(self, s: Session, w: Window) -> dict[str, int]:
        rows = list(s.execute(select(Milestone.done_at)
                              .where(Milestone.key == REVIEW_STEP, Milestone.due_on >= w.period.start,
                                     Milestone.due_on <= w.period.end)))
        retired = s.scalar(select(func.count(RequestNote.id)).where(
            RequestNote.kind == "retire", RequestNote.created_at >= w.start, RequestNote.created_at < w.end))
        return rules.reviews(rules.Reviews(due=len(rows), done=sum(1 for (done,) in rows if done is not None
                                                                    and done < w.end), retired=int(retired or 0)))

    def _outcomes(self, s: Session, w: Window) -> dict[str, int]:
        """Outcome check-ins answered in the period, by answer (ix_outcome_checkins_answered_at)."""
        counted = dict(s.execute(select(OutcomeCheckin.answer, func.count()).where(
            OutcomeCheckin.answered_at >= w.start, OutcomeCheckin.answered_at < w.end,
            OutcomeCheckin.answer.is_not(None)).group_by(OutcomeCheckin.answer)).all())
        return {answer: int(counted.get(answer, 0)) for answer in OUTCOME_ANSWERS}

    def _satisfaction(self, s: Session, w: Window) -> dict[str, Any]:
        """Ratings given in the period: how many, and their mean (ix_satisfaction_ratings_answered_at)."""
        responses, mean = s.execute(select(func.count(SatisfactionRating.rating), func.avg(SatisfactionRating.rating))
                                    .where(SatisfactionRating.answered_at >= w.start,
                                           SatisfactionRating.answered_at < w.end,
                                           SatisfactionRating.rating.is_not(None))).one()
        return {"responses": int(responses or 0), "mean": round(float(mean), 2) if responses else None}

    def _similar(self, s: Session, w: Window) -> list[list[int]]:
        """The clusters of similar requests found in the period (docs/similar-requests.md)."""
        return clusters_found(s, w.start, w.end)

    def _weekly(self, s: Session, w: Window) -> dict[str, Any]:
        """The chart's numbers: requests and decisions per week, by model (not in the JSON contract's list)."""
        return rules.weekly(w.period, self.zone, self._received_rows(s, w), self._decision_rows(s, w)).as_dict()

    # --- the catalogue ----------------------------------------------------------------------------

    def _model(self, key: str) -> SupportModel | None:
        return self.catalog.catalog.model(key)

    def _decide_within(self, key: str) -> int | None:
        model = self._model(key)
        return model.decide_within if model is not None else None

    def _audiences(self, key: str, answers: dict[str, Any]) -> tuple[str, ...]:
        """The labels of the audiences a request names (its fields called audience or *_audience)."""
        model = self._model(key)
        if model is None:
            return ()
        chosen = selected_options(model, answers)
        out: list[str] = []
        for field_id, value in chosen.items():
            if field_id == "audience" or field_id.endswith("_audience"):
                out.extend(o.label for o in (value if isinstance(value, list) else [value]))
        return tuple(dict.fromkeys(out))

    def _teams(self) -> list[tuple[str, str, int | None]]:
        """(decision scope, team, capacity): L&D, then each approving team of the catalogue."""
        catalog = self.catalog.catalog
        teams = [(LD_SCOPE, "L&D", catalog.capacity)]
        teams += [(f"lxp:{o.value}", o.team, o.capacity) for o in catalog.contributor_audiences if o.team]
        return teams

    # --- other forms ----------------------------------------------------------------------------

    @staticmethod
    def csv_text(report: dict[str, Any]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", f"{report['from']}..{report['to']}",
                         f"{report['previous']['from']}..{report['previous']['to']}"])
        for name, now, before in rules.side_by_side(report):
            writer.writerow([name, _cell(now), _cell(before)])
        return out.getvalue()

    @staticmethod
    def table_text(report: dict[str, Any]) -> str:
        head = ("METRIC", f"{report['from']} to {report['to']}",
                f"{report['previous']['from']} to {report['previous']['to']}")
        rows = [(n, _cell(a) or "-", _cell(b) or "-") for n, a, b in rules.side_by_side(report)]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
        lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
                 for r in [head, *rows]]
        reasons = report["decisions"].get("reasons") or []
        if reasons:
            lines += ["", "Reasons given:"]
            lines += [f"  #{r['id']} {r['decision']}: {' '.join(str(r['reason']).split())[:200]}" for r in reasons]
        return "\n".join(lines) + "\n"


def asked_period(start: str | None, end: str | None, *, now: datetime, zone: ZoneInfo) -> Period:
    """The period `--from/--to` ask for (ReportDateError says what is wrong with them)."""
    return rules.period_of(rules.parse_day(start, "--from") if start else None,
                           rules.parse_day(end, "--to") if end else None, today=now.astimezone(zone).date())


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]
