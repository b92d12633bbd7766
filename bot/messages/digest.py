"""The channel digest as Block Kit: a pure builder that fits Slack's limits at any number of requests."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.domain.safe_text import one_line, slack_escape, slack_plain
from bot.messages.kit import (
    HEADER_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    NOTIFICATION_TEXT_MAX,
    SECTION_TEXT_MAX,
    context,
    header,
    link,
    section,
)

Block = dict[str, Any]

# Raw lengths before escaping: one entry stays far below SECTION_TEXT_MAX even when every
# character of these becomes "&amp;", so at least one entry always fits a section.
TITLE_MAX = 255  # GitLab's own limit for an issue title
MODEL_MAX = 80
STEP_MAX = 100
SECTION_TITLE_MAX = 150
EMPTY_TEXT_MAX = 200
URL_MAX = 400
OWNERS_SHOWN = 5

# Slack user ids are ours, but they come through the database: anything else is shown as text.
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")
# A URL that cannot end a <url|text> link early or start a new one.
_URL = re.compile(r"https?://[^\s<>|]+")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Per section key: how a date reads, how the notification counts it, what "nothing" reads like.
_DATE_LABEL = {"new": "submitted", "triage": "submitted", "upcoming": "on", "overdue": "due"}
_COUNTED = {"new": "{n} new request{s}", "triage": "{n} waiting for triage", "upcoming": "{n} coming up",
            "overdue": "{n} overdue"}
_NOTHING = {"new": "no new requests", "triage": "nothing waiting for triage", "upcoming": "no launches coming up",
            "overdue": "nothing overdue"}


@dataclass(frozen=True)
class DigestItem:
    """One request in one digest section; every text field but the ids is user or catalogue text."""

    title: str
    url: str | None
    model_name: str
    requester_id: str
    when: date | None = None
    score: float | None = None
    step: str | None = None
    owners: tuple[str, ...] = ()
    decision: str | None = None  # how it stands ("waiting for a decision, 6 days", "waitlisted")


@dataclass(frozen=True)
class DigestSection:
    """A titled list of requests, already in the order to show them."""

    key: str
    title: str
    items: Sequence[DigestItem]
    more_url: str | None = None
    empty_text: str = "None."
    total: int | None = None  # how many there are when `items` holds only the first few; None: len(items)

    @property
    def count(self) -> int:
        """Requests in this section, shown or not."""
        return max(self.total or 0, len(self.items))


@dataclass(frozen=True)
class Digest:
    heading: str
    sections: Sequence[DigestSection]


def day(d: date) -> str:
    """`Wed 3 Mar`, the same in every locale."""
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"


def mention(user_id: str) -> str:
    """`<@U…>` for a well-formed Slack user id; anything else as escaped text that pings no one."""
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return slack_plain(one_line(user_id, 40), 200)


def _url(url: str | None) -> str | None:
    return url if url is not None and len(url) <= URL_MAX and _URL.fullmatch(url) else None


def _text(text: str, limit: int) -> str:
    """User or catalogue text on one line, cut before escaping so no entity is split."""
    return slack_escape(one_line(text, limit))


def entry(item: DigestItem, key: str) -> str:
    """One line for one request: its issue link, model, requester and what this section is about."""
    url = _url(item.url)
    title = one_line(item.title, TITLE_MAX) or "(untitled)"
    parts = [link(url, title) if url else f"*{slack_escape(title)}*"]
    if item.score is not None:
        parts.insert(0, f"score {item.score:.1f}")
    parts.append(_text(item.model_name, MODEL_MAX))
    parts.append(f"from {mention(item.requester_id)}")
    when = None
    if item.when is not None:
        label = _DATE_LABEL.get(key)
        when = f"{label} {day(item.when)}" if label else day(item.when)
    if item.step is not None:
        step = _text(item.step, STEP_MAX)
        parts.append(f"{step} {when}" if when else f"step: {step}")
    elif when:
        parts.append(when)
    if item.decision:
        parts.append(f"_{_text(item.decision, 80)}_")
    if item.owners:
        owners = ", ".join(mention(o) for o in item.owners[:OWNERS_SHOWN])
        extra = len(item.owners) - OWNERS_SHOWN
        parts.append(f"owners {owners}" + (f" and {extra} others" if extra > 0 else ""))
    return "• " + " · ".join(parts)


def _more(count: int, url: str | None) -> str:
    return f"…{link(url, f'and {count:,} more')}" if url else f"…and {count:,} more"


def section_text(sec: DigestSection, *, per_section: int) -> str:
    """The section's title and as many whole entries as fit, then "…and N more" for the rest."""
    head = f"*{slack_plain(one_line(sec.title, SECTION_TITLE_MAX), SECTION_TITLE_MAX * 5)}*"
    total = sec.count
    if total == 0:
        empty = slack_plain(one_line(sec.empty_text, EMPTY_TEXT_MAX), EMPTY_TEXT_MAX * 5) or "None."
        return f"{head} — {empty}"
    more_url = _url(sec.more_url)
    lines: list[str] = []
    size = len(head)
    # Only look at entries that could be shown: the cost is per_section, not the number of items.
    for item in sec.items[: max(per_section, 0)]:
        line = entry(item, sec.key)
        size += 1 + len(line)
        if size > SECTION_TEXT_MAX:
            break
        lines.append(line)
    # Drop trailing entries until the "and N more" line fits too: the link to the rest matters more.
    while True:
        body = "\n".join([head, *lines])
        hidden = total - len(lines)
        if not hidden:
            return body
        more = _more(hidden, more_url)
        if len(body) + 1 + len(more) <= SECTION_TEXT_MAX or not lines:
            # With no lines left it always fits: the title and the link are capped far below the limit.
            return f"{body}\n{more}"
        lines.pop()


def _nothing_line(sections: Sequence[DigestSection]) -> str:
    phrases = [_NOTHING.get(s.key) or f"nothing in {slack_plain(one_line(s.title, 60), 300)}" for s in sections]
    if not phrases:
        return ":sunny: Nothing to report this week."
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f":sunny: Nothing to report this week: {listed}."


def _notification(heading: str, sections: Sequence[DigestSection]) -> str:
    counts = []
    for s in sections:
        n = s.count
        pattern = _COUNTED.get(s.key)
        if pattern:
            counts.append(pattern.format(n=f"{n:,}", s="" if n == 1 else "s"))
        else:
            counts.append(f"{n:,} {slack_plain(one_line(s.title, 60), 300)}")
    text = ", ".join(counts)
    if heading:
        text = f"{slack_plain(heading, 300)}: {text}"
    return text if len(text) <= NOTIFICATION_TEXT_MAX else text[: NOTIFICATION_TEXT_MAX - 1] + "…"


def digest_message(digest: Digest, *, per_section: int = 10) -> tuple[str, list[dict[str, Any]]]:
    """Returns (notification text, blocks) for chat.postMessage."""
    heading = one_line(digest.heading, HEADER_TEXT_MAX)
    if not any(s.count for s in digest.sections):
        line = _nothing_line(digest.sections)
        return f"{slack_plain(heading, 300)}: nothing to report this week." if heading else line, [section(line)]
    blocks: list[Block] = [header(heading)] if heading else []
    room = MESSAGE_BLOCKS_MAX - len(blocks)
    shown = digest.sections if len(digest.sections) <= room else digest.sections[: room - 1]
    blocks.extend(section(section_text(s, per_section=per_section)) for s in shown)
    if len(shown) < len(digest.sections):
        left = len(digest.sections) - len(shown)
        blocks.append(context(f"…and {left} more sections that do not fit in one message."))
    return _notification(heading, digest.sections), blocks
