"""Checking a filled-in modal against its support model: one specific message per bad field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.catalog import SLACK_INPUT_MAX, FieldSpec, SupportModel
from bot.domain.limits import too_far, too_far_moment

# An answer as a form's state holds it: a string, a list of strings (multi-selects) or None, as Slack sends
# it; a forged payload may hold anything JSON can, and every such value is refused inline, never raised.
Raw = object

_URL = re.compile(r"^https?://[^\s/]+\.[^\s/]+(/\S*)?$|^https?://localhost(:\d+)?(/\S*)?$", re.IGNORECASE)
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_IN_LINK = re.compile(r"[<>|\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass
class Checked:
    """Typed answers of the visible fields, and an error message per field that failed."""

    answers: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


# What to do with each kind of field, as the person is told when the answer is not right; also what they
# are told when an answer arrives as something that field's input never sends (a number, a list of numbers).
_ASK = {
    "text": "Type your answer as text.",
    "long_text": "Type your answer as text.",
    "url": "Paste a full URL starting with https://",
    "urls": "Paste full URLs starting with https://",
    "select": "Pick one of the options in the list.",
    "multi_select": "Pick one of the options in the list.",
    "number": "Enter a whole number.",
    "date": "Pick a date from the calendar.",
    "datetime": "Pick a date and a time.",
    "user": "Pick people from the list.",
    "users": "Pick people from the list.",
    "yes_no": "Choose yes or no.",
}
_LIST_TYPES = ("multi_select", "users")


def _blank(value: Raw) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str) and not v.strip() for v in value)
    return value is None or (isinstance(value, str) and not value.strip())


def _as_sent(spec: FieldSpec, value: Raw) -> str | list[str]:
    """The answer as the field's input sends it: a string, or for a multi-select a list of strings."""
    if spec.type in _LIST_TYPES:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return items
    else:
        scalar = value[0] if isinstance(value, list) and len(value) == 1 else value  # a checkbox group of one
        if isinstance(scalar, str):
            return scalar
    raise ValueError(_ASK[spec.type])


def _text(spec: FieldSpec, value: str) -> str:
    # A lone CR is a line break too (CommonMark, and GitLab's quick-action reader deletes it).
    text = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    limit = spec.max_length or SLACK_INPUT_MAX
    if len(text) > limit:
        raise ValueError(f"Keep this under {limit} characters (it has {len(text)}).")
    if spec.type == "text" and "\n" in text:
        raise ValueError("Use a single line here.")
    return text


def in_handbook(url: str, prefixes: Sequence[str]) -> bool:
    """True if `url` is under one of the handbook prefixes (scheme and host compared case-blind)."""
    if not _splits(url):
        return False
    parts = urlsplit(url)
    normalised = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or '/'}"
    for prefix in prefixes:
        p = urlsplit(prefix)
        base = f"{p.scheme.lower()}://{p.netloc.lower()}{p.path or '/'}"
        if normalised.startswith(base) or normalised + "/" == base:
            return True
    return False


def _splits(url: str) -> bool:
    try:
        urlsplit(url)  # ValueError: "Invalid IPv6 URL" (a lone "[" in the host), a host NFKC makes invalid
    except ValueError:
        return False
    return True


def _url(spec: FieldSpec, url: str, prefixes: Sequence[str]) -> str:
    # A link learnbot shows in Slack (<url|text>) must open the address typed and show only learnbot's
    # text: '<', '>' and '|' would end it early or start a mention, and no real address needs them bare.
    bad = sorted(set(_NOT_IN_LINK.findall(url)))
    if bad and not re.match(r"^https?://", url, re.IGNORECASE):  # prose, not a link with a stray character
        raise ValueError(f"“{url[:80]}” is not a web link. Paste a full URL starting with https://")
    if bad:
        shown = " ".join("a space" if c == " " else (repr(c) if c.isprintable() else "a control character")
                         for c in bad)
        raise ValueError(f"“{url[:80]}”: a web link cannot contain {shown}. "
                         "Paste the address exactly as your browser shows it.")
    if not _URL.match(url) or not _splits(url):
        raise ValueError(f"“{url[:80]}” is not a web link. Paste a full URL starting with https://")
    if "@" in urlsplit(url).netloc:
        raise ValueError(f"“{url[:80]}” has a user name before its host, which hides where it goes. "
                         "Paste the address without the part before '@'.")
    if spec.handbook and not in_handbook(url, prefixes):
        raise ValueError(
            f"“{url[:80]}” is not in the handbook. Handbook first: put the content in the handbook, "
            f"then link it (links must start with {' or '.join(prefixes)})."
        )
    return url


def _link_text(spec: FieldSpec, value: str) -> str:
    # Elsewhere control characters are dropped; in a link they would change the address, so say so.
    if _CONTROL.search(value):
        raise ValueError("A web link cannot contain a control character. "
                         "Paste the address exactly as your browser shows it.")
    return _text(spec, value)


def _urls(spec: FieldSpec, value: str, prefixes: Sequence[str]) -> list[str]:
    text = _link_text(spec, value)
    urls = list(dict.fromkeys(u.strip("<>,;") for u in text.split() if u.strip("<>,;")))
    return [_url(spec, u, prefixes) for u in urls]


def _choice(spec: FieldSpec, value: str) -> str:
    if spec.option(value) is None:
        raise ValueError(_ASK["select"])
    return value


def _number(spec: FieldSpec, value: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(_ASK["number"]) from None
    if spec.min_value is not None and number < spec.min_value:
        raise ValueError(f"Enter {spec.min_value} or more.")
    if spec.max_value is not None and number > spec.max_value:
        raise ValueError(f"Enter {spec.max_value:,} or less.")
    return number


def _date(spec: FieldSpec, value: str, today: date) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(_ASK["date"]) from None
    if spec.not_past and day < today:
        raise ValueError(f"{day.isoformat()} is in the past. Pick {today.isoformat()} or later.")
    _within_reach(too_far(day, today))
    return day


def _datetime(spec: FieldSpec, value: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise ValueError(_ASK["datetime"]) from None
    if spec.not_past and moment < now:
        raise ValueError("That time has already passed. Pick a time in the future.")
    _within_reach(too_far_moment(moment, now))
    return moment


def _within_reach(refusal: str | None) -> None:
    """Every date a person picks is at most five years ahead (bot/domain/limits.py): plans, reminders and
    reviews counted from it stay inside the calendar."""
    if refusal is not None:
        raise ValueError(refusal)


def _users(spec: FieldSpec, people: list[str]) -> list[str]:
    if any(not _SLACK_USER.match(p) for p in people):
        raise ValueError(_ASK["users"])
    return list(dict.fromkeys(people))


def _at_most(spec: FieldSpec, people: list[str]) -> list[str]:
    """A users field names at most its catalogue's max_people: each of them gets every reminder."""
    if len(people) > spec.people_limit:
        raise ValueError(f"Name at most {spec.people_limit} people here (you named {len(people)}).")
    return people


def _one(spec: FieldSpec, raw: Raw, *, today: date, now: datetime, prefixes: Sequence[str]) -> Any:
    value = _as_sent(spec, raw)
    scalar = value if isinstance(value, str) else ""
    items = value if isinstance(value, list) else []
    match spec.type:
        case "text" | "long_text":
            text = _text(spec, scalar)
            if spec.min_items:
                items = [i.strip() for i in text.split(",") if i.strip()]
                if len(items) < spec.min_items:
                    raise ValueError(f"List at least {spec.min_items}, separated by commas (found {len(items)}).")
            return text
        case "url":
            return _url(spec, _link_text(spec, scalar), prefixes)
        case "urls":
            return _urls(spec, scalar, prefixes)
        case "select":
            return _choice(spec, scalar)
        case "multi_select":
            return [_choice(spec, v) for v in dict.fromkeys(items)]
        case "number":
            return _number(spec, scalar)
        case "date":
            return _date(spec, scalar, today)
        case "datetime":
            return _datetime(spec, scalar, now)
        case "user":
            return _users(spec, [scalar])[0]
        case "users":
            return _at_most(spec, _users(spec, items))
        case "yes_no":
            if scalar not in ("yes", "no"):
                raise ValueError(_ASK["yes_no"])
            return scalar == "yes"
    raise AssertionError(f"unhandled field type {spec.type}")  # the catalogue schema rules this out


def check_answers(
    model: SupportModel,
    raw: Mapping[str, Raw],
    *,
    today: date,
    now: datetime,
    handbook_prefixes: Sequence[str],
) -> Checked:
    """Validate the fields the requester could see; `today` is their local date, `now` is UTC."""
    checked = Checked()
    selected = {k: v for k, v in raw.items() if isinstance(v, str)}
    for spec in model.visible_fields(selected):
        value = raw.get(spec.id)
        if _blank(value):
            if spec.required:
                checked.errors[spec.id] = "This is required for the issue template. Please fill it in."
            continue
        try:
            checked.answers[spec.id] = _one(spec, value, today=today, now=now, prefixes=handbook_prefixes)
        except ValueError as exc:
            checked.errors[spec.id] = str(exc)
    return checked


def check_one(spec: FieldSpec, value: Raw, *, today: date, now: datetime,
              handbook_prefixes: Sequence[str] = ()) -> Any:
    """One answer on its own (e.g. a changed launch date): the parsed value, or ValueError saying why."""
    if _blank(value):
        raise ValueError("Please pick a date." if spec.type in ("date", "datetime") else "This is required.")
    return _one(spec, value, today=today, now=now, prefixes=handbook_prefixes)


def to_json(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers as JSON: dates and times in ISO 8601."""
    return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in answers.items()}


def anchor_of(model: SupportModel, answers: Mapping[str, Any], zone_of_requester: Any) -> date | None:
    """The date a plan counts from; a datetime anchor counts in the requester's local calendar."""
    if model.plan is None:
        return None
    value = answers.get(model.plan.anchor)
    if isinstance(value, datetime):
        return value.astimezone(zone_of_requester).date()
    return value if isinstance(value, date) else None
