"""When a reminder is due: the reminder hour on the milestone's date, in the recipient's own time zone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.catalog import PlanSpec
from bot.domain.planning import milestone_date

# Until we know someone's zone, assume the earliest one on Earth (UTC+14): the reminder can
# only be early-checked, never late. The dispatcher corrects it once the zone is known.
EARLIEST_ZONE = ZoneInfo("Etc/GMT-14")
SNOOZES = {"day": timedelta(days=1), "week": timedelta(weeks=1)}


def due_moment(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """`hour`:00 local time on `day` in `zone`, as aware UTC (DST-correct through zoneinfo)."""
    local = datetime.combine(day, time(hour=hour), tzinfo=zone)
    # A wall-clock time skipped by a DST jump resolves forward, as zoneinfo's fold=0 does.
    return local.astimezone(UTC)


def snoozed_until(now: datetime, how: str) -> datetime:
    try:
        return now + SNOOZES[how]
    except KeyError:
        raise ValueError(f"unknown snooze {how!r}; use one of {', '.join(SNOOZES)}") from None


@dataclass(frozen=True)
class OpenStep:
    key: str
    due_on: date
    done: bool


@dataclass(frozen=True)
class Replanned:
    key: str
    due_on: date
    pulled_forward: bool


def replan(spec: PlanSpec, steps: Sequence[OpenStep], new_anchor: date, today: date) -> list[Replanned]:
    """New dates for the steps not done yet; done steps keep theirs. Steps already past are due today."""
    by_key = {s.key: s for s in spec.milestones}
    out: list[Replanned] = []
    for step in steps:
        if step.done or step.key not in by_key:
            continue
        m = by_key[step.key]
        due = milestone_date(new_anchor, days=m.days, weeks=m.weeks, business_days=m.business_days)
        out.append(Replanned(step.key, max(due, today), pulled_forward=due < today))
    return out


def recipients(requester: str, co_owners: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([requester, *co_owners]))
