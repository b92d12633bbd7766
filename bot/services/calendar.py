"""Public holidays by country (the `holidays` package) and a person's country from their time zone (tz tables)."""

from __future__ import annotations

import functools
import importlib.resources
import logging
import threading
from datetime import date
from pathlib import Path

import holidays as holiday_data

from bot.domain.holidays import IsHoliday, ZoneCountries, no_holidays, zone_countries

log = logging.getLogger(__name__)
SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")


def _table(name: str) -> list[str]:
    """A tz database table from the `tzdata` package (a dependency), else from the system's zoneinfo."""
    try:
        return importlib.resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8").splitlines()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        path = SYSTEM_ZONEINFO / name
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


@functools.cache
def zone_table() -> ZoneCountries:
    return zone_countries(_table("zone.tab"), _table("zone1970.tab"))


def supported_countries() -> frozenset[str]:
    return frozenset(holiday_data.list_supported_countries())


class HolidayCalendar:
    """Which days are public holidays in a country; a country or year with no data means weekends only.

    Each missing (country, year) is logged once per process, not at every reminder.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._years: dict[tuple[str, int], frozenset[date] | None] = {}
        self._told: set[tuple[str, int]] = set()

    def days(self, country: str, year: int) -> frozenset[date] | None:
        key = (country.upper(), year)
        with self._lock:
            if key in self._years:
                return self._years[key]
        try:
            found: frozenset[date] | None = frozenset(holiday_data.country_holidays(key[0], years=year).keys())
        except (NotImplementedError, KeyError, ValueError) as exc:
            found = None
            reason = str(exc)
        else:
            reason = "the holidays package lists no holiday that year"
        if not found:  # an empty year is no data: every country has at least one public holiday
            found = None
        with self._lock:
            self._years[key] = found
            if found is None and key not in self._told:
                self._told.add(key)
                log.warning("no public holidays for %s in %s (%s): reminders there skip weekends only",
                            key[0], year, reason)
        return found

    def is_holiday_in(self, country: str | None) -> IsHoliday:
        """A day → holiday? function for one country (weekends only when the country is unknown)."""
        if not country:
            return no_holidays

        def is_holiday(day: date) -> bool:
            days = self.days(country, day.year)
            return days is not None and day in days

        return is_holiday
