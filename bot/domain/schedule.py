"""Crontab expressions read the way cron reads them.

APScheduler 3's CronTrigger.from_crontab counts the day of the week from Monday = 0, so
"0 9 * * 1" would fire on Tuesdays. Standard cron counts from Sunday = 0 (7 is Sunday too);
numeric day-of-week fields are rewritten to day names before APScheduler sees them.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

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


def cron_trigger(expression: str, zone: tzinfo | str) -> CronTrigger:
    """A CronTrigger for a 5-field crontab expression, with cron's own day-of-week numbering."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=standard_day_of_week(day_of_week), timezone=zone)
