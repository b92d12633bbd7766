"""Limits on what one person can make learnbot do (SPEC §15): how far ahead a date may be, how many people
a request may name."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# A date typed into a form, the settings or a decision lies at most this far ahead (5 years).
YEARS_AHEAD = 5
# Room left at the end of the calendar for a leave's working day after, a reminder hour in any zone.
_END = date.max - timedelta(days=60)


def years_after(day: date, years: int) -> date:
    """The same day `years` later (28 February for 29 February), never past what a calendar can hold."""
    if day.year + years > _END.year:
        return _END
    try:
        return min(day.replace(year=day.year + years), _END)
    except ValueError:  # 29 February into a common year
        return min(day.replace(year=day.year + years, day=28), _END)


def latest_day(today: date) -> date:
    """The last date a person may pick today."""
    return years_after(today, YEARS_AHEAD)


def too_far(day: date, today: date) -> str | None:
    """Why `day` is refused (shown where it was typed), or None when it is within reach."""
    latest = latest_day(today)
    if day <= latest:
        return None
    return (f"{day.isoformat()} is more than {YEARS_AHEAD} years ahead. "
            f"Pick {latest.isoformat()} or earlier.")


def too_far_moment(moment: datetime, now: datetime) -> str | None:
    """`too_far` for a date and time (compared in UTC)."""
    today = now.astimezone(UTC).date()
    return too_far(moment.astimezone(UTC).date(), today)


def clamp_pause(paused_through: date | None, day: date) -> date | None:
    """A stored leave as far as it can matter to a reminder for `day`: at most YEARS_AHEAD after it.

    Leave is bounded when it is typed; one stored before that (9999-12-31) must not overflow the
    calendar when the day after it is computed.
    """
    if paused_through is None:
        return None
    return min(paused_through, years_after(day, YEARS_AHEAD), _END)
