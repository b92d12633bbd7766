"""When is my turn (§16): a likely week for a request waiting in its team's queue, from the queue and throughput.

The team's queue is its accepted requests whose work has not started (no step of the plan done yet),
oldest decision first, then its waitlist in its order (oldest waitlisting first): the order the team
takes them. Throughput is the team's requests *finished* in the last WINDOW_DAYS: accepted (or
approved) requests of that team closed in the window. A close is what frees the team's capacity,
whether the work launched or stopped, so it is what moves a queue.

A request with k requests ahead of it starts after about k of the team's starts; in a steady state
the team starts as many as it finishes, so that is k / (finished per day) days from today. A
waitlisted request also needs a free place: with `free` places open now, place p among the waitlisted
needs p − free closes first. The later of the two is its turn. A request with nothing ahead and a
place free has its turn now (this week), with or without history; otherwise, below MIN_FINISHED
finished requests in the window there is no guess, only "not enough history yet". A decider's
"waitlisted until" date is a floor. Weeks start on Monday of the requester's own calendar (`today`
is their local date); holidays and working days do not enter: the measure is closes per calendar day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WINDOW_DAYS = 90
# With one or two closes in 90 days a single early or late close moves the guess by weeks, and a team
# that has only just begun has no pace yet: three is the fewest that is a rate rather than an event.
MIN_FINISHED = 3
# Told again only when the week moves by this much, and never more often than once per this long.
MOVE = timedelta(days=7)
RETELL_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Queued:
    """One request of a team's queue, in the order the team takes them."""

    request_id: int
    waitlisted: bool  # False: accepted, not started
    not_before: date | None = None  # waitlisted until this date (the decider's choice)


@dataclass(frozen=True)
class Team:
    capacity: int | None  # None: no limit
    in_progress: int  # accepted requests it carries now, started or not
    finished: int  # requests finished in the last WINDOW_DAYS


@dataclass(frozen=True)
class LikelyWeek:
    """The Monday of the likely week, or None: not enough history to say."""

    week: date | None

    def text(self, today: date) -> str:
        if self.week is None:
            return "not enough history yet to say when"
        if self.week <= monday(today):
            return "likely this week"
        return f"likely the week of {week_text(self.week, today)}"


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_text(week: date, today: date) -> str:
    """"11 Jan", with the year when it is not this year's."""
    return f"{week.day} {week:%b}" + (f" {week.year}" if week.year != today.year else "")


def turns_ahead(queue: Sequence[Queued], request_id: int, team: Team) -> int | None:
    """How many of the team's starts (or closes) come before this request's turn; None: not queued."""
    ahead = next((i for i, q in enumerate(queue) if q.request_id == request_id), None)
    if ahead is None:
        return None
    if not queue[ahead].waitlisted:
        return ahead
    place = sum(1 for q in queue[:ahead + 1] if q.waitlisted)
    if team.capacity is None:
        return ahead
    free = max(0, team.capacity - team.in_progress)
    return max(ahead, place - free)


def likely_week(turns: int, finished: int, today: date, *, not_before: date | None = None,
                window_days: int = WINDOW_DAYS) -> LikelyWeek:
    """The week `turns` starts from now at the pace of `finished` per `window_days` (see the module)."""
    floor = monday(max(today, not_before)) if not_before is not None else monday(today)
    if turns <= 0:
        return LikelyWeek(floor)
    if finished < MIN_FINISHED:
        return LikelyWeek(None)
    days = turns * window_days // finished
    return LikelyWeek(max(floor, monday(today + timedelta(days=days))))


def estimate(queue: Sequence[Queued], request_id: int, team: Team, today: date) -> LikelyWeek | None:
    """The likely week of one queued request (None: it is not in the queue)."""
    turns = turns_ahead(queue, request_id, team)
    if turns is None:
        return None
    item = next(q for q in queue if q.request_id == request_id)
    return likely_week(turns, team.finished, today, not_before=item.not_before)


def retell(*, told_week: date | None, told_at: datetime | None, now_week: LikelyWeek, now: datetime,
           today: date) -> bool:
    """Whether the requester is told the week again: it moved by a week or more (or a week can now be said
    where there was none), and they were last told at least RETELL_AFTER ago. Never told: no (the first
    week is told with the decision, or kept silently as the baseline). A turn told for a week that has
    come is not told again as "this week" every week while it waits to be taken: nothing new to say."""
    if told_at is None or now_week.week is None or now - told_at < RETELL_AFTER:
        return False
    if told_week is None:
        return True
    if now_week.week <= monday(today) and told_week <= monday(today):
        return False
    return abs(now_week.week - told_week) >= MOVE
