"""Care after launch, as rules: the live-session follow-up form and its issue note, and evergreen reviews."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.catalog import FieldSpec
from bot.catalog.schema import Interval
from bot.domain.planning import Plan, PlannedMilestone, off_weekend
from bot.domain.safe_text import gitlab_user_text
from bot.domain.validation import Raw, check_one

REVIEW_KEY = "evergreen-review"

# --- evergreen reviews ----------------------------------------------------------------------------


def add_interval(day: date, interval: Interval) -> date:
    """`day` plus months (the same day of the month, or the month's last), weeks and days."""
    month_index = day.month - 1 + interval.months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    moved = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return moved + timedelta(weeks=interval.weeks, days=interval.days)


def next_review(after: date, interval: Interval) -> date:
    """When the next evergreen review is due: `interval` after `after`, on a weekday."""
    return off_weekend(add_interval(after, interval))


def review_title(interval: Interval) -> str:
    return f"Evergreen review: is the content still accurate? (every {interval.describe()})"


def with_review(plan: Plan, anchor: date, interval: Interval) -> Plan:
    """The plan with its evergreen review added, `interval` after the launch."""
    review = PlannedMilestone(REVIEW_KEY, review_title(interval), next_review(anchor, interval))
    return Plan((*plan.milestones, review), lead_days=plan.lead_days, days_available=plan.days_available)


def outlives_close(key: str, anchor: date | None, closed_on: date) -> bool:
    """An evergreen review is about the content, which outlives its issue: closing the issue on or after the
    launch (the usual end of the work) keeps it. Closed before launch, the request was dropped: it stops."""
    return key == REVIEW_KEY and anchor is not None and anchor <= closed_on


def retire_note(*, who: str, title: str) -> str:
    return (f"**Retire this content** (evergreen review in Slack, by {gitlab_user_text(who)}): "
            f"“{gitlab_user_text(title)}” is no longer accurate. L&D, please unpublish it from GitLab Learn "
            "and the handbook page that links it.")


def accurate_note(*, who: str, next_on: date) -> str:
    return (f"Evergreen review in Slack: still accurate, confirmed by {gitlab_user_text(who)}. "
            f"Next review {next_on.isoformat()}.")


# --- the live-session follow-up -------------------------------------------------------------------

FOLLOW_UP_FIELDS = (
    FieldSpec(id="attendance", type="number", label="How many people attended?", min_value=0, max_value=100000),
    FieldSpec(id="recording_url", type="url", label="Recording (link)", required=False,
              hint="Where the recording is (e.g. the unlisted video)."),
    FieldSpec(id="handbook_url", type="url", label="Handbook page that links the recording", required=False,
              handbook=True, hint="Handbook first: link the recording from the handbook, then paste that page."),
    FieldSpec(id="notes", type="long_text", label="Anything to fix next time?", required=False, max_length=2000),
)


@dataclass
class FollowUp:
    attendance: int | None = None
    recording_url: str | None = None
    handbook_url: str | None = None
    notes: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def check_follow_up(raw: Mapping[str, Raw], *, recorded: bool, handbook_prefixes: Sequence[str], today: date,
                    now: datetime) -> FollowUp:
    """The follow-up form: attendance always; a recorded session also needs its recording and the handbook
    page that links it (handbook first, with the configured prefixes)."""
    out = FollowUp()
    values: dict[str, Any] = {}
    for spec in FOLLOW_UP_FIELDS:
        value = raw.get(spec.id)
        if not spec.required and (value is None or (isinstance(value, str) and not value.strip())):
            continue
        try:
            values[spec.id] = check_one(spec, value, today=today, now=now, handbook_prefixes=handbook_prefixes)
        except ValueError as exc:
            out.errors[spec.id] = str(exc)
    if recorded:
        for needed in ("recording_url", "handbook_url"):
            if needed not in out.errors and not values.get(needed):
                out.errors[needed] = "The session was recorded: this is needed to close the step."
    if values.get("recording_url") and not values.get("handbook_url") and "handbook_url" not in out.errors:
        out.errors["handbook_url"] = "Link the recording from a handbook page, and paste that page here."
    if not out.errors:
        out.attendance = values.get("attendance")
        out.recording_url = values.get("recording_url") or None
        out.handbook_url = values.get("handbook_url") or None
        out.notes = values.get("notes") or ""
    return out


def follow_up_note(answers: FollowUp, *, who: str) -> str:
    """The note on the issue: every user-written value made safe for GitLab."""
    lines = [f"**Live session follow-up** (from Slack, by {gitlab_user_text(who)})", "",
             f"- Attendance: {answers.attendance}"]
    if answers.recording_url:
        lines.append(f"- Recording: {gitlab_user_text(answers.recording_url)}")
    if answers.handbook_url:
        lines.append(f"- Linked from the handbook: {gitlab_user_text(answers.handbook_url)}")
    if answers.notes:
        lines += ["", "**To fix next time**", "", gitlab_user_text(answers.notes)]
    return "\n".join(lines)
