"""Working days: a reminder that would fall on a weekend or a public holiday moves to the working day before.

Pure rules only. Which days are holidays comes in as a callable (the calendar lives in
bot/services/calendar.py, backed by the `holidays` package); which country a person is in comes
from their time zone through the tz database's zone tables, read by the caller and parsed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.limits import clamp_pause

SATURDAY = 5
# How far a shift may walk: a holiday calendar that marks a whole month off is broken, not a rule.
MAX_SHIFT_DAYS = 31

IsHoliday = Callable[[date], bool]


def no_holidays(day: date) -> bool:
    return False


def is_working_day(day: date, is_holiday: IsHoliday = no_holidays) -> bool:
    return day.weekday() < SATURDAY and not is_holiday(day)


def working_day_on_or_before(day: date, is_holiday: IsHoliday = no_holidays) -> date:
    """`day` itself if people work then, else the closest working day before it (weekends and holidays skipped)."""
    candidate = day
    for _ in range(MAX_SHIFT_DAYS):
        if is_working_day(candidate, is_holiday):
            return candidate
        candidate -= timedelta(days=1)
    # Only a calendar gone wrong gets here: fall back to weekends only, never to no reminder.
    return working_day_on_or_before(day)


def working_day_after(day: date, is_holiday: IsHoliday = no_holidays) -> date:
    """The first working day strictly after `day` (the day someone is back from leave)."""
    candidate = day + timedelta(days=1)
    for _ in range(MAX_SHIFT_DAYS):
        if is_working_day(candidate, is_holiday):
            return candidate
        candidate += timedelta(days=1)
    return working_day_after(day)


def reminder_day(day: date, *, is_holiday: IsHoliday = no_holidays, paused_through: date | None = None) -> date:
    """The day a reminder planned for `day` is due for one person.

    Weekends and their public holidays move it to the working day before; while they have paused
    reminders (leave), it waits for their first working day back.
    """
    due = working_day_on_or_before(day, is_holiday)
    paused_through = clamp_pause(paused_through, day)
    if paused_through is not None and due <= paused_through:
        due = working_day_after(paused_through, is_holiday)
    return due


# --- time zone → country ------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneCountries:
    """Zone → countries, from zone.tab (one country: the zone's own) and zone1970.tab (all that share it)."""

    primary: dict[str, str]
    shared: dict[str, tuple[str, ...]]

    def country(self, zone: str | None) -> str | None:
        """The zone's own country (Europe/Berlin → DE); None for zones of no country (UTC, Etc/…)."""
        if not zone:
            return None
        if zone in self.primary:
            return self.primary[zone]
        countries = self.shared.get(zone)
        return countries[0] if countries else None

    def sharing(self, zone: str | None) -> tuple[str, ...]:
        """Every country that uses the zone (Europe/Zurich → CH, DE, LI)."""
        if not zone:
            return ()
        shared = self.shared.get(zone, ())
        own = self.primary.get(zone)
        return tuple(dict.fromkeys([own, *shared] if own else shared))


def parse_zone_table(lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """zone.tab / zone1970.tab rows ("CC[,CC…]<TAB>coordinates<TAB>TZ[<TAB>comment]") as zone → codes."""
    out: dict[str, tuple[str, ...]] = {}
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3:
            continue
        codes = tuple(c.strip().upper() for c in parts[0].split(",") if c.strip())
        if codes:
            out[parts[2].strip()] = codes
    return out


def zone_countries(zone_tab: Iterable[str], zone1970_tab: Iterable[str]) -> ZoneCountries:
    primary = {zone: codes[0] for zone, codes in parse_zone_table(zone_tab).items()}
    return ZoneCountries(primary=primary, shared=parse_zone_table(zone1970_tab))
