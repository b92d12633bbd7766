"""Reading mrkdwn as Slack does, for tests: what a message links to and which special tokens it holds.

Slack reads `<` … `>` as one control sequence: `<!…>` (a broadcast such as !channel, !here, a user
group), `<@U…>` and `<#C…>` (a mention), or `<target|text>` / `<target>` (a link); `&lt;`, `&gt;` and
`&amp;` are plain characters. Everything is taken from the raw text before any entity is read back.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

_SEQUENCE = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class Link:
    target: str  # as Slack opens it: entities read back
    text: str

    def opens(self, url: str) -> bool:
        """Whether clicking it opens `url` (the same address once percent-encoding is read back)."""
        return unquote(self.target) == unquote(url)


def sequences(text: str) -> list[str]:
    return _SEQUENCE.findall(text)


def special_tokens(text: str) -> list[str]:
    """Broadcasts and mentions: <!channel>, <!here>, <!subteam^…>, <@U…>, <#C…>."""
    return [s for s in sequences(text) if s[:1] in ("!", "@", "#")]


def links(text: str) -> list[Link]:
    out = []
    for seq in sequences(text):
        if seq[:1] in ("!", "@", "#"):
            continue
        target, _, shown = seq.partition("|")
        out.append(Link(html.unescape(target), html.unescape(shown)))
    return out


def mrkdwn_texts(message: Any) -> Iterator[str]:
    """Every string of a message (its text, every block and attachment) that Slack may read as mrkdwn."""
    if isinstance(message, str):
        yield message
    elif isinstance(message, dict):
        for key, value in message.items():
            if key in ("action_id", "block_id", "value", "url", "image_url", "callback_id", "private_metadata"):
                continue
            yield from mrkdwn_texts(value)
    elif isinstance(message, list):
        for value in message:
            yield from mrkdwn_texts(value)
