"""Valid raw answers for every support model, as a modal would send them (shared by unit and e2e tests).

RAW's dates are fixed, written for SAMPLE_TODAY: unit tests pass that day (or another fixed one) as
`today`/`now`. The e2e app reads the real clock (`Services.clock()`), so e2e tests take their
answers and expected dates from `SampleDates.after(now)`: the same dates moved by whole weeks to
lie ahead of `now`, which keeps every weekday and every gap between them. Nothing here depends on
the weekday or the year the tests run in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

SAMPLE_TODAY = date(2027, 1, 20)  # a Wednesday: the day RAW's dates were written for
SESSION = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)
# The e2e requester U0REQ lives here (tests/e2e/conftest.py): "today" and "in the past" are hers.
REQUESTER_ZONE = "America/New_York"
# The first zone on Earth to reach a date: a date on or after today there is not in anyone's past.
_FIRST_ZONE = ZoneInfo("Pacific/Kiritimati")

RAW = {
    "live-learning": {
        "title": "Introduction to Coaching", "learning_outcomes": "Ask open questions\nGive feedback",
        "starts_at": str(int(SESSION.timestamp())), "duration": "25", "hosts": ["U0HOST", "U0COHOST"],
        "audience": "global", "recorded": "yes", "business_impact": "medium",
        "okr_url": "https://gitlab.com/okrs/1", "impacted_people": "250",
    },
    "new-pathway": {
        "title": "Community Learning Pathway", "audience": ["team-members", "community"],
        "launch_date": "2027-03-03",
        "handbook_urls": "https://handbook.gitlab.com/handbook/marketing/developer-relations/\n"
                         "https://about.gitlab.com/handbook/company/strategy/",
        "existing_content": "none found", "objectives": "Understand the value of community\nEngage the community",
        "outline": "Introduction\nCommunity programs\nJoin us", "badge": "yes", "co_owners": ["U0COOWNER"],
    },
    "upload": {
        "content_type": "smartcard", "title": "Being an Ally", "contributor_audience": "partners", "topic": "dib",
        "handbook_urls": "https://about.gitlab.com/company/culture/inclusion/being-an-ally/",
        "description": "A short card on allyship", "level": "beginner", "tags": "dib, ally",
        "duration_minutes": "10",
    },
    "external-content": {
        "title": "Intro to Kubernetes", "provider": "Linux Foundation",
        "content_url": "https://training.linuxfoundation.org/k8s", "licence": "free", "cost": "none",
        "audience": ["team-members"], "why": "Fills the cloud-native gap",
    },
    "content-review": {
        "title": "Bias for async", "handbook_urls": "https://handbook.gitlab.com/handbook/company/culture/all-remote/",
        "review_focus": ["handbook-first", "async"], "needed_by": "2027-02-15", "notes": "",
    },
    "new-content": {
        "topic": "Merge request etiquette", "team": "Engineering", "audience": ["team-members"], "format": "pathway",
        "outcomes": "Review MRs kindly", "business_impact": "high", "okr_url": "https://gitlab.com/okrs/7",
        "impacted_people": "1200", "needed_by": "2027-02-01",
    },
}


@cache
def _field_types(model_key: str | None = None) -> dict[str, str]:
    """{field id: field type} of the shipped catalogue (one model's, or the first of each id in all).

    Read once per test run: loading the catalogue compiles every template (hundreds of ms), and a
    payload built while a test's clock runs must cost the test nothing.
    """
    from bot.catalog import load_catalog

    catalog = load_catalog()
    models = [catalog.model(model_key)] if model_key else catalog.models
    types: dict[str, str] = {}
    for model in models:
        for f in model.fields:
            types.setdefault(f.id, f.type)
    return types


def slack_state(raw: dict) -> dict:
    """Raw answers turned into a view's state.values, element by element, as Slack sends them."""
    types = _field_types()
    return {field_id: {"value": _element(types[field_id], value)} for field_id, value in raw.items()}


def _element(kind: str, value):
    match kind:
        case "select":
            return {"type": "static_select", "selected_option": {"value": value} if value else None}
        case "multi_select":
            return {"type": "multi_static_select", "selected_options": [{"value": v} for v in value or []]}
        case "yes_no":
            return {"type": "radio_buttons", "selected_option": {"value": value} if value else None}
        case "date":
            return {"type": "datepicker", "selected_date": value}
        case "datetime":
            return {"type": "datetimepicker", "selected_date_time": int(value) if value else None}
        case "users":
            return {"type": "multi_users_select", "selected_users": value or []}
        case "user":
            return {"type": "users_select", "selected_user": value}
        case "number":
            return {"type": "number_input", "value": value}
        case _:
            return {"type": "plain_text_input", "value": value}


@dataclass(frozen=True)
class SampleDates:
    """RAW's fixed dates moved by a whole number of weeks: same weekdays, same gaps, never in the past."""

    weeks: int

    @classmethod
    def after(cls, now: datetime) -> SampleDates:
        """The shift that puts SAMPLE_TODAY on the first day, on or after today anywhere on Earth, with its weekday.

        RAW's earliest date is 12 days after SAMPLE_TODAY, so every shifted answer is valid
        whatever zone the requester is in, and a five-week plan is never compressed by it.
        """
        today_anywhere = now.astimezone(_FIRST_ZONE).date()
        return cls(weeks=-((SAMPLE_TODAY - today_anywhere).days // 7))

    @property
    def today(self) -> date:
        """SAMPLE_TODAY, moved."""
        return self.day(SAMPLE_TODAY)

    def day(self, fixed: date | str) -> date:
        """A date written for SAMPLE_TODAY (a date or "YYYY-MM-DD"), moved."""
        day = date.fromisoformat(fixed) if isinstance(fixed, str) else fixed
        return day + timedelta(weeks=self.weeks)

    def iso(self, fixed: date | str) -> str:
        return self.day(fixed).isoformat()

    def moment(self, fixed: datetime) -> datetime:
        """An instant written for SAMPLE_TODAY, moved (UTC time of day kept)."""
        return fixed + timedelta(weeks=self.weeks)

    def at(self, fixed: date | str, hour: int, zone: str, minute: int = 0) -> datetime:
        """hour:minute local time in `zone` on the moved date, as an aware UTC datetime.

        Computed in the zone, not by adding hours to a fixed UTC time, so that daylight saving
        on the moved date is what counts.
        """
        local = datetime.combine(self.day(fixed), time(hour, minute), tzinfo=ZoneInfo(zone))
        return local.astimezone(UTC)

    def raw(self, key: str, **changes: Any) -> dict[str, Any]:
        """RAW[key] with its date and date-time answers moved, then `changes` applied (given as they are)."""
        types = _field_types(key)
        out = copy.deepcopy(RAW[key])
        for field_id, value in out.items():
            if not value:
                continue
            if types.get(field_id) == "date":
                out[field_id] = self.iso(value)
            elif types.get(field_id) == "datetime":
                out[field_id] = str(int(value) + self.weeks * 7 * 86400)
        out.update(changes)
        return out


def weekday_after(now: datetime, days: int, zone: str = REQUESTER_ZONE) -> date:
    """The first Monday-to-Friday date at least `days` days after today in `zone`."""
    day = now.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def next_weekday_at(now: datetime, weekday: int, hour: int, zone: ZoneInfo | str = UTC) -> datetime:
    """The first `weekday` (0 = Monday) at hour:00 in `zone` strictly after `now`, as an aware UTC datetime."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    local = now.astimezone(tz)
    day = local.date()
    while True:
        candidate = datetime.combine(day, time(hour), tzinfo=tz)
        if day.weekday() == weekday and candidate > now:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
