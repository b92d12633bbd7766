"""A Slack message turned into a request: its text as plain words for a form, and which models fit it.

Slack sends a message's text in its own markup (`<@U123>`, `<!channel>`, `<https://x|label>`,
`&lt;`). The form shows it as plain text the person can edit; on submission it is checked and
escaped like anything typed, so nothing here has to make it safe, only readable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# <@U123>, <@U123|name>, <#C123>, <#C123|general>, <!here>, <!subteam^S1|@team>, <!date^…|fallback>, <url|label>
_TOKEN = re.compile(r"<([^<>]*)>")
_WORD = re.compile(r"[a-z0-9]+")


def _token(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        if target.startswith(("!subteam^", "!date^")):
            return label or target[1:].split("^", 1)[0]
        return "@" + (label or target[1:])  # !channel, !here, !everyone: words, not pings
    if label and label != target:
        return f"{label} ({target})"
    return target


def plain_text(mrkdwn: str) -> str:
    """Slack's message markup as the words a person sees (mentions by name or id, links with their URL)."""
    return html.unescape(_TOKEN.sub(lambda m: _token(m.group(1)), mrkdwn))


def fit(text: str, extras: str, limit: int) -> str:
    """A message's words and then its extras (attachments, files) in at most `limit` characters:
    a long text is cut so that what follows it is never lost."""
    tail = cut(extras, limit // 2) if extras else ""
    room = limit - len(tail) - (2 if tail else 0)
    return "\n\n".join(p for p in (cut(text, room), tail) if p)


def message_extras(message: Mapping[str, Any]) -> str:
    """The text of a message's attachments and the names of its files.

    Files are not copied: they stay in Slack, where the message link (carried into the issue) shows them.
    """
    parts = []
    for att in message.get("attachments") or []:
        if not isinstance(att, Mapping):
            continue
        words = att.get("text") or att.get("fallback") or att.get("title") or ""
        if words:
            parts.append(plain_text(str(words)).strip())
    files = [f for f in message.get("files") or [] if isinstance(f, Mapping)]
    if files:
        names = ", ".join(str(f.get("name") or f.get("title") or "a file") for f in files[:20])
        more = f" and {len(files) - 20} more" if len(files) > 20 else ""
        parts.append(f"Files on the message (they stay in Slack; see the message link): {names}{more}")
    return "\n\n".join(p for p in parts if p)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending with a note when something was left out."""
    if len(text) <= limit:
        return text
    note = " … (cut; the whole message is linked from the issue)"
    return text[: max(limit - len(note), 0)].rstrip() + note[: limit]


def rank_models(text: str, keywords: Sequence[tuple[str, Iterable[str]]]) -> list[str]:
    """Model keys, the ones whose keywords the message mentions first (most hits first), the rest in catalogue order."""
    words = set(_WORD.findall(text.lower()))
    lowered = text.lower()
    scored = []
    for index, (key, kws) in enumerate(keywords):
        hits = sum(1 for k in kws if (k.lower() in words if " " not in k else k.lower() in lowered))
        scored.append((-hits, index, key))
    return [key for _, _, key in sorted(scored)]


def fallback_permalink(channel: str, ts: str) -> str:
    """A link to a message that works without chat.getPermalink (Slack redirects it to the workspace)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
