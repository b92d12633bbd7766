"""The L&D leader's report (SPEC §16) as numbers: periods, medians and p90s, and each section from plain rows."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# The decision states (bot.domain.decisions.State values) as the report counts them.
DECISION_OF = {
    "accepted": "accepted", "approved": "accepted", "waitlisted": "waitlisted", "declined": "declined",
    "needs-info": "asked", "changes-requested": "asked",
}
DECISIONS = ("accepted", "waitlisted", "declined", "asked")
NO_AUDIENCE = "(none given)"


class ReportDateError(ValueError):
    """A date the report was asked for is not one (or --from is after --to); the message says which."""


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in the team's time zone."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def whole_month(self) -> bool:
        return self.start.day == 1 and (self.end + timedelta(days=1)).day == 1 and self.start.month == self.end.month

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts: the month before a whole
        calendar month (October beside November, not 2 to 31 October), else as many days."""
        if self.whole_month:
            return last_full_month(self.start)
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[first moment, moment after the last) of the period in `zone`, as aware datetimes."""
        return (datetime.combine(self.start, time(), zone),
                datetime.combine(self.end + timedelta(days=1), time(), zone))

    def label(self) -> str:
        if self.whole_month:
            return f"{self.start:%B %Y}"
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def last_full_month(today: date) -> Period:
    """The calendar month before the one `today` is in."""
    end = today.replace(day=1) - timedelta(days=1)
    return Period(end.replace(day=1), end)


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportDateError(f"{what} {text!r} is not a date like 2026-11-01") from None


def period_of(start: date | None, end: date | None, *, today: date) -> Period:
    """The period asked for: both ends given; only --from (to today); only --to (from the 1st of its month);
    neither: the last full calendar month."""
    if start is None and end is None:
        return last_full_month(today)
    if end is None:
        end = max(today, start) if start is not None else today
    if start is None:
        start = end.replace(day=1)
    if start > end:
        raise ReportDateError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    return Period(start, end)


# --- statistics ---------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(value, 1)


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by nearest rank: the smallest value at least 90% of the values are ≤ to."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)], 1)


def days_between(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 86400


# --- the rows each section is made of -------------------------------------------------------------

@dataclass(frozen=True)
class Received:
    request_id: int
    model: str
    audiences: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class DecisionRow:
    request_id: int
    model: str
    state: str  # the request's decision state after it
    at: datetime
    reason: str | None
    filed_at: datetime
    first: bool  # the request's first decision (what days-to-decision measures)
    decide_within: int | None  # the model's, in days


@dataclass(frozen=True)
class LaunchRow:
    request_id: int
    anchor: date
    accepted_at: datetime | None
    on_time: bool  # every step due by the anchor date was done by it


@dataclass(frozen=True)
class StepRow:
    model: str
    step: str
    due_on: date
    done_on: date | None  # local date it was ticked


@dataclass(frozen=True)
class TeamRow:
    team: str
    capacity: int | None
    in_progress: int
    waitlisted_since: tuple[datetime, ...] = ()


@dataclass
class Reviews:
    due: int = 0
    done: int = 0
    retired: int = 0


# --- sections ----------------------------------------------------------------------------------

def received(rows: Iterable[Received]) -> dict[str, Any]:
    rows = list(rows)
    by_model = Counter(r.model for r in rows)
    by_audience: Counter[str] = Counter()
    for r in rows:
        by_audience.update(r.audiences or (NO_AUDIENCE,))
    return {"by_model": dict(sorted(by_model.items())), "by_audience": dict(sorted(by_audience.items())),
            "total": len(rows)}


def decisions(rows: Iterable[DecisionRow]) -> dict[str, Any]:
    rows = [r for r in rows if r.state in DECISION_OF]
    counts = Counter(DECISION_OF[r.state] for r in rows)
    waits = [days_between(r.filed_at, r.at) for r in rows if r.first]
    over = sum(1 for r in rows if r.first and r.decide_within is not None
               and days_between(r.filed_at, r.at) > r.decide_within)
    reasons = [{"id": r.request_id, "decision": DECISION_OF[r.state], "reason": r.reason}
               for r in sorted(rows, key=lambda r: (r.at, r.request_id)) if r.reason]
    return {**{d: counts.get(d, 0) for d in DECISIONS}, "median_days_to_decision": median(waits),
            "p90_days_to_decision": p90(waits), "over_decide_within": over, "reasons": reasons}


def launches(rows: Iterable[LaunchRow], zone: ZoneInfo) -> dict[str, Any]:
    rows = list(rows)
    waits = [(r.anchor - r.accepted_at.astimezone(zone).date()).days for r in rows if r.accepted_at is not None]
    return {"total": len(rows), "on_time": sum(1 for r in rows if r.on_time),
            "median_days_accept_to_launch": median([float(w) for w in waits])}


def _step_counts(rows: Sequence[StepRow]) -> dict[str, int]:
    return {"due": len(rows), "done_on_time": sum(1 for r in rows if r.done_on is not None and r.done_on <= r.due_on)}


def milestones(rows: Iterable[StepRow]) -> dict[str, Any]:
    rows = list(rows)
    by_model: dict[str, list[StepRow]] = {}
    for r in rows:
        by_model.setdefault(r.model, []).append(r)
    by_step = {m: {s: _step_counts([r for r in rs if r.step == s]) for s in dict.fromkeys(r.step for r in rs)}
               for m, rs in sorted(by_model.items())}
    return {**_step_counts(rows), "by_model": {m: _step_counts(rs) for m, rs in sorted(by_model.items())},
            "by_step": by_step}


def capacity(teams: Iterable[TeamRow], *, end: datetime) -> list[dict[str, Any]]:
    out = []
    for t in teams:
        oldest = min(t.waitlisted_since, default=None)
        out.append({"team": t.team, "in_progress": t.in_progress, "capacity": t.capacity,
                    "waitlist": len(t.waitlisted_since),
                    "oldest_wait_days": round(days_between(oldest, end), 1) if oldest is not None else None})
    return out


def reviews(r: Reviews) -> dict[str, int]:
    return {"due": r.due, "done": r.done, "retired": r.retired}


# --- the chart's numbers -------------------------------------------------------------------------

@dataclass
class Weekly:
    """Requests received and decisions made per week (weeks start on Monday), by support model."""

    weeks: list[date] = field(default_factory=list)
    requests: dict[str, list[int]] = field(default_factory=dict)
    decisions: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"weeks": [w.isoformat() for w in self.weeks], "requests": self.requests, "decisions": self.decisions}


def weekly(period: Period, zone: ZoneInfo, got: Iterable[Received], decided: Iterable[DecisionRow]) -> Weekly:
    first = period.start - timedelta(days=period.start.weekday())
    weeks = [first + timedelta(weeks=i) for i in range((period.end - first).days // 7 + 1)]

    def spread(items: Iterable[tuple[str, datetime]]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for model, at in items:
            index = ((at.astimezone(zone).date() - first).days // 7)
            if 0 <= index < len(weeks):
                out.setdefault(model, [0] * len(weeks))[index] += 1
        return dict(sorted(out.items()))

    return Weekly(weeks, spread((r.model, r.at) for r in got),
                  spread((d.model, d.at) for d in decided if d.state in DECISION_OF))


# --- flat forms (CSV, the text table) -------------------------------------------------------------

def flat(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """(metric, value) pairs of a report's numbers, in a stable order (lists of text are left out)."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            if prefix == "capacity":
                for team in value:
                    for k, v in team.items():
                        if k != "team":
                            walk(f"capacity.{team['team']}.{k}", v)
            elif prefix == "similar":
                out.append(("similar.clusters", len(value)))
        elif value is None or isinstance(value, (int, float)):
            out.append((prefix, value))

    for key, value in report.items():
        if key not in ("from", "to", "previous", "weekly"):
            walk(key, value)
    return out


def side_by_side(report: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(metric, this period, the period before): every metric either period has."""
    now, before = dict(flat(report)), dict(flat(report.get("previous") or {}))
    names = list(dict.fromkeys([*now, *before]))

    def value(side: dict[str, Any], other: dict[str, Any], n: str) -> Any:
        # A model or audience only one period had counts 0 in the other.
        return side[n] if n in side else (0 if other.get(n) is not None else None)

    return [(n, value(now, before, n), value(before, now, n)) for n in names]
