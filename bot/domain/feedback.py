"""After launch, as rules: when an outcome check-in is asked and nudged, when a request has ended (so its
requester is asked for a rating), what an answer may be, and the notes the answers make on the issue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

from bot.domain.decisions import IN_PROGRESS
from bot.domain.safe_text import gitlab_user_text

# The four answers to "did it make the difference you expected?", as stored and as shown.
OUTCOME_ANSWERS = {
    "happened": "It happened",
    "partly": "Partly",
    "not_yet": "Not yet",
    "not_relevant": "Not any more relevant",
}
RATINGS = (1, 2, 3, 4, 5)
RATING_WORDS = {1: "Very poor", 2: "Poor", 3: "OK", 4: "Good", 5: "Excellent"}
# One nudge this long after the check-in was asked, if it is still unanswered; then it stops.
NUDGE_AFTER = timedelta(days=7)
# A check-in's moment may move before its date (a weekend, public holidays): the pass reads this far ahead.
LOOKAHEAD = timedelta(days=11)
NOTE_MAX = 1000  # a note or comment typed in the DM's input (its max_length)


class Step(StrEnum):
    ASK = "ask"
    NUDGE = "nudge"


def checkin_dates(launch: date, after_days: Sequence[int]) -> list[tuple[int, date]]:
    """(after_days, due_on) for each check-in of a request launched on `launch`."""
    return [(days, launch + timedelta(days=days)) for days in after_days]


def went_ahead(decision_state: str) -> bool:
    """Accepted (or approved by its team): the only requests whose outcome or rating is ever asked."""
    return decision_state in {s.value for s in IN_PROGRESS}


def launch_day(*, anchor: date | None, has_plan: bool, closed_on: date | None) -> date | None:
    """When a request launched: its plan's anchor date (the launch, the needed-by date); without a plan,
    the day its issue was closed as published. None: not launched (or not yet known)."""
    if has_plan:
        return anchor
    return closed_on


def dropped_before_launch(*, launch: date | None, closed_on: date | None) -> bool:
    """Closed before its launch date: the work was dropped, nothing launched to ask about."""
    return launch is not None and closed_on is not None and closed_on < launch


def checkin_step(*, asked_at: datetime | None, nudged_at: datetime | None, answered_at: datetime | None,
                 ask_at: datetime, now: datetime) -> Step | None:
    """What a check-in owes at `now`: the first DM once its moment (`ask_at`) has come, one nudge
    NUDGE_AFTER later if still unanswered, and nothing after an answer or the nudge."""
    if answered_at is not None:
        return None
    if asked_at is None:
        return Step.ASK if now >= ask_at else None
    if nudged_at is None and now >= asked_at + NUDGE_AFTER:
        return Step.NUDGE
    return None


def request_ended(*, decision_state: str, closed_on: date | None, launch: date | None) -> bool:
    """A request's end, when its requester is asked for a rating: it went ahead and its issue is closed on
    or after its launch (a model without a plan launches when it is closed). Never a declined request."""
    if not went_ahead(decision_state) or closed_on is None:
        return False
    return launch is None or not dropped_before_launch(launch=launch, closed_on=closed_on)


def outcome_answer(value: object) -> str | None:
    return value if isinstance(value, str) and value in OUTCOME_ANSWERS else None


def rating_of(value: object) -> int | None:
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) in RATINGS:
        return int(value)
    return None


def typed_note(value: object) -> str | None:
    """What was typed in the DM's optional note field: trimmed and capped, None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:NOTE_MAX]


def outcome_note(*, who: str, after_days: int, answer: str, note: str | None, expected: str | None) -> str:
    """The issue note of one check-in answer (GitLab Markdown; everything typed made safe)."""
    lines = [f"**Outcome check-in, {after_days} days after launch** (from Slack, by {gitlab_user_text(who)}): "
             f"**{OUTCOME_ANSWERS[answer]}**"]
    if expected:
        lines += ["", "Expected at intake:", "", _quoted(expected)]
    if note:
        lines += ["", "Note:", "", _quoted(note)]
    return "\n".join(lines)


def rating_note(*, who: str, rating: int, comment: str | None) -> str:
    lines = [f"**Satisfaction** (from Slack, by {gitlab_user_text(who)}): **{rating} / 5** ({RATING_WORDS[rating]})"]
    if comment:
        lines += ["", _quoted(comment)]
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in gitlab_user_text(text).split("\n"))
