"""Making user-written text safe where it lands: Slack mrkdwn and GitLab Markdown."""

from __future__ import annotations

import re
import unicodedata

_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

# GitLab runs a quick action for any line that starts with "/word" in a description or a note
# created through the API. A backslash before the slash keeps the text readable (CommonMark
# renders "\/" as "/") and the line no longer starts with "/". GitLab deletes every "\r" before it
# looks ("/\rclose" is "/close"), so a CR neither hides a slash nor ends what follows it.
# Every character a reader may take as a line break starts a line here; whatever blank,
# control or invisible characters come first are passed over; and any "/" that follows is
# escaped, whatever comes after it.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(f"(?:^|(?<=[{_LINE_BREAKS}]))([^/{_LINE_BREAKS}]*)/")
# A fence or a ">>>" quote opened by a user would swallow the rest of the template.
_BLOCK_OPENER_LINE = re.compile(r"^([ \t]*)(```|~~~|>>>)", re.MULTILINE)
# "@all" (and "@here") notifies every project member on GitLab. GitLab's user reference is "@" and a
# name not preceded by an ASCII word character (Ruby's \w; "é@all" is a mention), so only those are
# spared; what follows may be anything but more of a name ("@all@all", "@all." are mentions). A word
# joiner after the "@" breaks the name and stays invisible; backticks would pair with the user's own.
_MASS_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(?=(?:all|here)(?![A-Za-z0-9_-]))", re.IGNORECASE)
_WORD_JOINER = "\u2060"


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


def _blank_or_invisible(text: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def neutralise_quick_actions(text: str) -> str:
    """Make sure no line of `text` starts a GitLab quick action (/close, /assign …)."""
    return _LINE.sub(lambda m: m.group(1) + "\\/" if _blank_or_invisible(m.group(1)) else m.group(0), text)


def neutralise_mass_mentions(text: str) -> str:
    """Make sure no "@all"/"@here" in `text` notifies a whole GitLab project; it still reads the same."""
    return _MASS_MENTION.sub("@" + _WORD_JOINER, text)


def gitlab_last_pass(text: str) -> str:
    """The last pass over a whole rendered description, whoever wrote each line (template or user):
    it holds on its own, whatever passed or missed the earlier ones."""
    return neutralise_quick_actions(neutralise_mass_mentions(text))


def gitlab_user_text(text: str) -> str:
    """User text as it may appear in a GitLab description or note.

    HTML is neutralised too: it stops a user from forging the hidden request marker (an HTML
    comment) that duplicate detection relies on.
    """
    # "|" would end a table cell early; "\|" renders as "|" everywhere else.
    # A lone CR ends a line in Markdown: made a newline, it meets the line-start rules below.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("<", "&lt;").replace("|", "\\|")
    text = _BLOCK_OPENER_LINE.sub(lambda m: m.group(1) + "\\" + "\\".join(m.group(2)), text)
    return gitlab_last_pass(text)


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace to one line and cut at `limit` characters (issue titles, previews)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
