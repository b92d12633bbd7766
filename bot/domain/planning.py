"""Milestone planning: dated steps counted from a request's anchor date (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.catalog import PlanSpec

SATURDAY, SUNDAY = 5, 6


@dataclass(frozen=True)
class PlannedMilestone:
    key: str
    title: str
    due_on: date
    done: bool = False
    # True when the step should already have happened: a compressed plan makes it due today.
    pulled_forward: bool = False


@dataclass(frozen=True)
class Plan:
    milestones: tuple[PlannedMilestone, ...]
    lead_days: int
    days_available: int

    @property
    def compressed(self) -> bool:
        return any(m.pulled_forward for m in self.milestones)

    @property
    def warning(self) -> str | None:
        if not self.compressed:
            return None
        late = [m for m in self.milestones if m.pulled_forward]
        return (
            f"This plan needs {_span(self.lead_days)} and only {_span(self.days_available)} are left, "
            f"so {len(late)} step{'s' if len(late) != 1 else ''} that should already have happened "
            f"{'are' if len(late) != 1 else 'is'} due now: " + "; ".join(m.title for m in late) + "."
        )


def _span(days: int) -> str:
    if days >= 7 and days % 7 == 0:
        weeks = days // 7
        return f"{weeks} week{'s' if weeks != 1 else ''}"
    return f"{days} day{'s' if days != 1 else ''}"


def off_weekend(day: date) -> date:
    """A date on a weekend moves to the Friday before."""
    if day.weekday() == SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == SUNDAY:
        return day - timedelta(days=2)
    return day


def add_business_days(day: date, count: int) -> date:
    """Move `count` weekdays from `day` (negative goes back); weekends are not counted."""
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    while remaining:
        day += timedelta(days=step)
        if day.weekday() < SATURDAY:
            remaining -= 1
    return day


def milestone_date(anchor: date, *, days: int = 0, weeks: int = 0, business_days: int = 0) -> date:
    day = anchor + timedelta(days=days, weeks=weeks)
    if business_days:
        day = add_business_days(day, business_days)
    return off_weekend(day)


def plan_milestones(spec: PlanSpec, anchor: date, today: date) -> Plan:
    """The dated plan for a request whose anchor (launch, session, needed-by) is `anchor`.

    A step whose date is already past when the request is made is not dropped: it is due
    today and flagged, and the plan says it is compressed.
    """
    planned: list[PlannedMilestone] = []
    earliest = anchor
    for step in spec.milestones:
        due = milestone_date(anchor, days=step.days, weeks=step.weeks, business_days=step.business_days)
        earliest = min(earliest, due)
        if step.done_at_submission:
            planned.append(PlannedMilestone(step.key, step.title, today, done=True))
        elif due < today:
            planned.append(PlannedMilestone(step.key, step.title, today, pulled_forward=True))
        else:
            planned.append(PlannedMilestone(step.key, step.title, due))
    return Plan(tuple(planned), lead_days=(anchor - earliest).days, days_available=max((anchor - today).days, 0))
