"""Making user-written text safe where it lands: Slack mrkdwn and GitLab Markdown."""

from __future__ import annotations

import re

_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

# GitLab runs a quick action for any line that starts with "/word" in a description or a note
# created through the API. A backslash before the slash keeps the text readable (CommonMark
# renders "\/" as "/") and the line no longer starts with "/". GitLab deletes every "\r" before it
# looks, so a CR before the slash hides nothing.
_QUICK_ACTION_LINE = re.compile(r"^([ \t\r]*)/(?=\S)", re.MULTILINE)
# A fence or a ">>>" quote opened by a user would swallow the rest of the template.
_BLOCK_OPENER_LINE = re.compile(r"^([ \t]*)(```|~~~|>>>)", re.MULTILINE)
# "@all"/"@here" in a description notifies every project member on GitLab.
_MASS_MENTION = re.compile(r"(?<![\w`])@(all|here)\b", re.IGNORECASE)


def slack_escape(text: str) -> str:
    """Escape &, < and > so that user text cannot form <!channel>, <@U…> or a link in mrkdwn."""
    return text.translate(_SLACK_ESCAPES)


def slack_plain(text: str, limit: int) -> str:
    """Escaped and cut to `limit` characters (after escaping), for a Block Kit text field."""
    escaped = slack_escape(text)
    if len(escaped) <= limit:
        return escaped
    # Cut the raw text, not the escaped one, so that no entity is split in half.
    out, size = [], 0
    for ch in text:
        piece = slack_escape(ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def neutralise_quick_actions(text: str) -> str:
    """Make sure no line of `text` starts a GitLab quick action (/close, /assign …)."""
    return _QUICK_ACTION_LINE.sub(r"\1\\/", text)


def gitlab_user_text(text: str) -> str:
    """User text as it may appear in a GitLab description or note.

    HTML is neutralised too: it stops a user from forging the hidden request marker (an HTML
    comment) that duplicate detection relies on.
    """
    # "|" would end a table cell early; "\|" renders as "|" everywhere else.
    # A lone CR ends a line in Markdown: made a newline, it meets the line-start rules below.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("<", "&lt;").replace("|", "\\|")
    text = _BLOCK_OPENER_LINE.sub(lambda m: m.group(1) + "\\" + "\\".join(m.group(2)), text)
    text = _MASS_MENTION.sub(r"`@\1`", text)
    return neutralise_quick_actions(text)


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace to one line and cut at `limit` characters (issue titles, previews)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
