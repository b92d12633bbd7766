"""Crontab expressions read the way cron reads them.

APScheduler 3's CronTrigger.from_crontab counts the day of the week from Monday = 0, so
"0 9 * * 1" would fire on Tuesdays. Standard cron counts from Sunday = 0 (7 is Sunday too);
numeric day-of-week fields are rewritten to day names before APScheduler sees them.

When both the day of the month and the day of the week are restricted (neither starts with
"*"), crontab(5) fires on a day matching EITHER ("0 9 1 * 1": the 1st and every Monday);
APScheduler would require both, so such an expression becomes two triggers joined by OR.
An expression that can never fire ("0 9 31 2 *") is refused, rather than silently never posting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

# Any expression that fires at all fires within 8 years of any moment (29 February included).
_PROBE_FROM = datetime(2001, 1, 1, tzinfo=UTC)

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(?P<range>\*|\d+(?:-\d+)?)(?:/(?P<step>\d+))?$")


def _days(part: str) -> list[str]:
    m = _PART.match(part)
    if m is None:
        return [part]  # names (mon-fri) and anything else: APScheduler's own reading
    if m["range"] == "*":
        start, end = 0, 6
    elif "-" in m["range"]:
        start, end = (int(x) for x in m["range"].split("-"))
    else:
        start = end = int(m["range"])
        if m["step"]:
            end = 6
    if not (0 <= start <= 7 and 0 <= end <= 7 and start <= end):
        raise ValueError(f"day of week {part!r} is out of range (0-7, Sunday is 0 or 7)")
    step = int(m["step"] or 1)
    if step < 1:
        raise ValueError(f"day of week step in {part!r} must be at least 1")
    return [_NAMES[d] for d in range(start, end + 1, step)]


def standard_day_of_week(field: str) -> str:
    """A crontab day-of-week field as APScheduler day names: "1" → "mon", "1-5" → "mon,…,fri", "0,7" → "sun"."""
    if field == "*" or field == "?":
        return "*"
    names: list[str] = []
    for part in field.split(","):
        for name in _days(part.strip().lower()):
            if name not in names:
                names.append(name)
    return ",".join(names)


def cron_trigger(expression: str, zone: tzinfo | str) -> BaseTrigger:
    """A trigger for a 5-field crontab expression, read as crontab(5) reads it (day-of-week numbering,
    the OR of day-of-month and day-of-week); ValueError if it is malformed or can never fire."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, day_of_week = fields
    days = standard_day_of_week(day_of_week)
    trigger: BaseTrigger
    if not day.startswith("*") and not day_of_week.startswith("*"):
        trigger = OrTrigger([
            CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=zone),
            CronTrigger(minute=minute, hour=hour, month=month, day_of_week=days, timezone=zone),
        ])
    else:
        trigger = CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=days, timezone=zone)
    if trigger.get_next_fire_time(None, _PROBE_FROM) is None:
        raise ValueError(f"{expression!r} never fires: no month it names has that day (e.g. 31 February)")
    return trigger


def checked_crontab(value: str, example: str, means: str) -> str:
    """A setting's crontab(5), or ValueError saying what is wrong with it and what would do
    (`example`, which `means` what it says): the one check of every cron setting."""
    try:
        cron_trigger(value, "UTC")
    except ValueError as exc:
        if "never fires" in str(exc):
            raise ValueError(f"{exc}; pick days that exist, such as '{example}' ({means})") from None
        raise ValueError(f"is not a 5-field crontab expression like '{example}': {exc}") from None
    return value
