"""A person's reminder settings (/learn settings): country for public holidays, reminder hour, leave."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date

from bot.domain.limits import too_far


@dataclass
class CheckedSettings:
    country: str | None = None
    hour: int | None = None
    paused_through: date | None = None
    errors: dict[str, str] = field(default_factory=dict)


def check_settings(raw: Mapping[str, object], *, countries: Collection[str], today: date) -> CheckedSettings:
    """Validate the settings form. Empty means the default: the country of one's time zone, the team's
    reminder hour, no leave."""
    out = CheckedSettings()
    country = str(raw.get("country") or "").strip().upper()
    if country:
        if len(country) != 2 or not country.isalpha():
            out.errors["country"] = "Use a two-letter country code (ISO 3166), e.g. DE, US, TH, or leave it empty."
        elif country not in countries:
            out.errors["country"] = (f"learnbot has no public-holiday calendar for {country}. Check the code, or "
                                     "leave it empty to use your time zone's country.")
        else:
            out.country = country
    hour = raw.get("hour")
    if hour not in (None, "", "default"):
        try:
            value = int(str(hour))
        except ValueError:
            value = -1
        if not 0 <= value <= 23:
            out.errors["hour"] = "Pick an hour between 00:00 and 23:00."
        else:
            out.hour = value
    paused = raw.get("paused")
    if paused:
        try:
            day = date.fromisoformat(str(paused))
        except ValueError:
            out.errors["paused"] = "That is not a date."
        else:
            if day < today:
                out.errors["paused"] = f"{day.isoformat()} is in the past; pick your last day away, or clear it."
            elif (refusal := too_far(day, today)) is not None:
                out.errors["paused"] = refusal
            else:
                out.paused_through = day
    return out
