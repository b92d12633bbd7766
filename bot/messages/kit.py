"""Block Kit building blocks: text objects, sections, buttons and Slack's limits for them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.domain.safe_text import slack_escape

Block = dict[str, Any]

# Block Kit limits (reference: blocks and composition objects).
SECTION_TEXT_MAX = 3000
CONTEXT_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
MESSAGE_BLOCKS_MAX = 50
MODAL_BLOCKS_MAX = 100
PLAIN_TEXT_TITLE_MAX = 24
NOTIFICATION_TEXT_MAX = 4000


def plain(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…", "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text if len(text) <= SECTION_TEXT_MAX else text[: SECTION_TEXT_MAX - 1] + "…"}


def section(text: str, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def button(text: str, action_id: str, *, value: str | None = None, url: str | None = None,
           style: str | None = None) -> Block:
    b: Block = {"type": "button", "text": plain(text, BUTTON_TEXT_MAX), "action_id": action_id}
    if value is not None:
        b["value"] = value
    if url is not None:
        b["url"] = url
    if style is not None:
        b["style"] = style
    return b


# What may not stand as itself in the URL part of <url|text>: '>' ends the link, '|' starts its text,
# '<' and whitespace or control characters could start something else. Percent-encoded, a browser
# opens the same address; '&' is written as Slack asks (&amp;), which Slack reads back as '&'.
_LINK_UNSAFE = re.compile(r"[<>|\s\x00-\x1f\x7f]")


def link_target(url: str) -> str:
    """`url` as it may stand inside <url|text>: nothing in it can end the link or start a mention."""
    encoded = _LINK_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)
    return encoded.replace("&", "&amp;")


def link(url: str, text: str) -> str:
    """A mrkdwn link to exactly `url`, whatever it holds, showing `text` (escaped; '|' cannot end it early)."""
    return f"<{link_target(url)}|{slack_escape(text).replace('|', '¦')}>"



def plan_lines(milestones: Iterable[Any]) -> str:
    lines = []
    for m in milestones:
        done = bool(getattr(m, "done", False) or getattr(m, "done_at", None))
        due = m.due_on.isoformat()
        title = slack_escape(m.title)
        lines.append(f"~`{due}` {title}~ :white_check_mark:" if done else f"`{due}` {title}")
    return "\n".join(lines)


