"""Owns the emulation of GitLab's quick-action extractor: which Markdown lines GitLab runs as commands."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every name GitLab's interpreter knows (issue, MR and work-item commands alike): the extractor strips
# all of them from the text and only then decides which apply to the target, so an MR-only command in
# an issue description still disappears. `/cc` is a no-op definition and is deliberately absent.
COMMAND_NAMES: tuple[str, ...] = (
    "close",
    "reopen",
    "title",
    "label",
    "labels",
    "unlabel",
    "remove_label",
    "relabel",
    "todo",
    "done",
    "subscribe",
    "unsubscribe",
    "react",
    "award",
    "severity",
    "confidential",
    "assign",
    "unassign",
    "reassign",
    "milestone",
    "remove_milestone",
    "copy_metadata",
    "estimate",
    "estimate_time",
    "spend",
    "spent",
    "spend_time",
    "remove_estimate",
    "remove_time_estimate",
    "remove_time_spent",
    "lock",
    "unlock",
    "due",
    "remove_due_date",
    "weight",
    "clear_weight",
    "duplicate",
    "move",
    "clone",
    "create_merge_request",
    "relate",
    "unrelate",
    "blocks",
    "blocked_by",
    "board_move",
    "zoom",
    "remove_zoom",
    "promote",
    "promote_to",
    "promote_to_incident",
    "iteration",
    "remove_iteration",
    "epic",
    "remove_epic",
    "parent_epic",
    "remove_parent_epic",
    "set_parent",
    "remove_parent",
    "add_child",
    "remove_child",
    "health_status",
    "clear_health_status",
    "type",
    "status",
    "timeline",
    "page",
    "link",
    "unlink",
    "add_contacts",
    "remove_contacts",
    "add_email",
    "remove_email",
    "convert_to_ticket",
    "checkin_reminder",
    "exclude",
    "publish",
    "q",
    "merge",
    "approve",
    "unapprove",
    "rebase",
    "draft",
    "ready",
    "target_branch",
    "assign_reviewer",
    "reviewer",
    "request_review",
    "unassign_reviewer",
    "remove_reviewer",
    "reassign_reviewer",
    "submit_review",
)

# Substitutions rewrite the line instead of removing it.
SUBSTITUTIONS: dict[str, str] = {"shrug": "¯\\＿(ツ)＿/¯", "tableflip": "(╯°□°)╯︵ ┻━┻"}


@dataclass(frozen=True)
class Command:
    """One extracted quick action: lower-cased name and stripped argument ("" when none)."""

    name: str
    arg: str = ""


def _alternation(names: tuple[str, ...] | list[str]) -> str:
    return "|".join(re.escape(n) for n in names)


# Same shape as Extractor#commands_regex (Ruby flags `mix`: ^/$ per line, dot matches newline,
# ignore case, extended). Inline code and HTML blocks are matched first so their contents are skipped.
_COMMANDS_RE = re.compile(
    rf"""
        (?P<inline_code>`.+?`)
      |
        (?P<html>^<[^>]+?>\n.+?\n</[^>]+?>$)
      |
        (?:^/(?P<cmd>{_alternation(COMMAND_NAMES)})(?:[ ](?P<arg>[^\n]*))?(?:\s*\n|$))
      |
        (?:^/(?P<sub>{_alternation(list(SUBSTITUTIONS))})(?:[ ](?P<sub_arg>[^\n]*))?(?:\s*\n|$))
    """,
    re.MULTILINE | re.DOTALL | re.IGNORECASE | re.VERBOSE,
)


def extract_commands(content: str | None) -> tuple[str | None, list[Command]]:
    """Return (content without command lines, commands), as Gitlab::QuickActions::Extractor does.

    Only top-level Markdown paragraphs are searched (GitLab finds them with its Markdown parser),
    so fenced/indented code, blockquotes (including >>> fences and lazy continuation lines), lists,
    headings, tables and HTML blocks never yield commands; inside a paragraph, inline code spans are
    skipped and a command must start its line with "/" (so "\\/close" is plain text).
    """
    if not content:
        return content, []
    text = content.replace("\r", "")
    lines = text.splitlines(keepends=True)
    commands: list[Command] = []

    def replace(match: re.Match[str]) -> str:
        if match.group("cmd"):
            commands.append(Command(match.group("cmd").lower(), (match.group("arg") or "").strip()))
            return ""
        if match.group("sub"):
            name = match.group("sub").lower()
            arg = (match.group("sub_arg") or "").strip()
            commands.append(Command(name, arg))
            ending = "\n" if match.group(0).endswith("\n") else ""
            return f"{arg} {SUBSTITUTIONS[name]}".lstrip() + ending
        return match.group(0)

    bare = [line.rstrip("\n") for line in lines]
    for start, end in top_level_paragraphs(bare):
        # Extractor#perform_regex swallows one following blank line with the paragraph.
        if end + 1 < len(lines) and lines[end + 1] == "\n":
            end += 1
        paragraph = "".join(lines[start : end + 1])
        new = _COMMANDS_RE.sub(replace, paragraph)
        if new != paragraph:
            lines[start : end + 1] = [new] + [""] * (end - start)
    return "".join(lines).rstrip(), commands


# ---------------------------------------------------------------------- Markdown block scanner
# A small CommonMark/GFM block scanner: it only has to tell top-level paragraphs from everything else.

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_THEMATIC = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}>")
_QUOTE_PREFIX = re.compile(r"^(?: {0,3}> ?)+")
_BULLET = re.compile(r"^( {0,3})([-+*])([ \t]+|$)(.*)$")
_ORDERED = re.compile(r"^( {0,3})(\d{1,9})([.)])([ \t]+|$)(.*)$")
_GITLAB_QUOTE_FENCE = re.compile(r"^ *>>>[ \t]*$")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_HTML_BLOCK_TAGS = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|"
    "dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|"
    "hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|"
    "section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul"
)
# (start pattern, end marker or None meaning "ends at a blank line", may interrupt a paragraph)
_HTML_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, bool], ...] = (
    (
        re.compile(r"^ {0,3}<(?:script|pre|style|textarea)(?:[ \t>]|$)", re.I),
        re.compile(r"</(?:script|pre|style|textarea)>", re.I),
        True,
    ),
    (re.compile(r"^ {0,3}<!--"), re.compile(r"-->"), True),
    (re.compile(r"^ {0,3}<\?"), re.compile(r"\?>"), True),
    (re.compile(r"^ {0,3}<![A-Za-z]"), re.compile(r">"), True),
    (re.compile(r"^ {0,3}<!\[CDATA\["), re.compile(r"\]\]>"), True),
    (re.compile(rf"^ {{0,3}}</?(?:{_HTML_BLOCK_TAGS})(?:[ \t]|/?>|$)", re.I), None, True),
    (
        re.compile(
            r"^ {0,3}(?:<[A-Za-z][A-Za-z0-9-]*(?:[ \t]+[A-Za-z_:][\w.:-]*"
            r"(?:[ \t]*=[ \t]*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*[ \t]*/?>|</[A-Za-z][A-Za-z0-9-]*[ \t]*>)"
            r"[ \t]*$"
        ),
        None,
        False,
    ),
)


def _fence_open(line: str) -> re.Match[str] | None:
    match = _FENCE.match(line)
    # A backtick fence's info string may not contain backticks (that is inline code instead).
    if match and match.group(1)[0] == "`" and "`" in match.group(2):
        return None
    return match


def _blank(line: str) -> bool:
    return not line.strip()


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _html_kind(line: str, *, interrupting: bool) -> int | None:
    for index, (start, _end, can_interrupt) in enumerate(_HTML_KINDS):
        if start.match(line) and (can_interrupt or not interrupting):
            return index
    return None


def _list_item(line: str) -> re.Match[str] | None:
    return _BULLET.match(line) or _ORDERED.match(line)


def _interrupts_paragraph(line: str) -> bool:
    if _fence_open(line) or _ATX.match(line) or _THEMATIC.match(line) or _QUOTE.match(line):
        return True
    bullet = _BULLET.match(line)
    if bullet and bullet.group(4).strip():
        return True
    ordered = _ORDERED.match(line)
    if ordered and ordered.group(2) == "1" and ordered.group(5).strip():
        return True
    return _html_kind(line, interrupting=True) is not None


def _skip_fence(lines: list[str], i: int) -> int:
    opener = _fence_open(lines[i])
    assert opener is not None
    char, size = opener.group(1)[0], len(opener.group(1))
    closing = re.compile(rf"^ {{0,3}}{re.escape(char)}{{{size},}}[ \t]*$")
    for j in range(i + 1, len(lines)):
        if closing.match(lines[j]):
            return j + 1
    return len(lines)  # an unclosed fence runs to the end of the document


def _skip_html(lines: list[str], i: int, kind: int) -> int:
    end = _HTML_KINDS[kind][1]
    for j in range(i, len(lines)):
        if end is None:
            if j > i and _blank(lines[j]):
                return j
        elif end.search(lines[j]):
            return j + 1
    return len(lines)


def _skip_blockquote(lines: list[str], i: int) -> int:
    lazy_ok = False
    fence: re.Pattern[str] | None = None
    while i < len(lines):
        line = lines[i]
        if _QUOTE.match(line):
            inner = _QUOTE_PREFIX.sub("", line, count=1)
            if fence is not None:
                if fence.match(inner):
                    fence = None
                lazy_ok = False
            elif (opener := _fence_open(inner)) is not None:
                char, size = opener.group(1)[0], len(opener.group(1))
                fence = re.compile(rf"^ {{0,3}}{re.escape(char)}{{{size},}}[ \t]*$")
                lazy_ok = False
            else:
                # Only paragraph text inside the quote lets the next unprefixed line continue it.
                lazy_ok = not (_blank(inner) or _indent(inner) >= 4 or _ATX.match(inner) or _THEMATIC.match(inner))
            i += 1
            continue
        if _blank(line) or not lazy_ok or _interrupts_paragraph(line):
            return i
        i += 1  # lazy continuation line: still inside the quote
    return i


def _skip_list(lines: list[str], i: int) -> int:
    def content_indent(match: re.Match[str]) -> int:
        groups = match.groups()
        spaces = groups[-2]
        marker_width = len("".join(groups[:-2]))
        return marker_width + (1 if len(spaces) > 4 or not spaces else len(spaces))

    item = _list_item(lines[i])
    assert item is not None
    indent = content_indent(item)
    lazy_ok = bool(item.groups()[-1].strip())
    after_blank = False
    i += 1
    while i < len(lines):
        line = lines[i]
        if _blank(line):
            after_blank, lazy_ok = True, False
            i += 1
            continue
        if _indent(line) >= indent:
            after_blank, lazy_ok = False, True
            i += 1
            continue
        if (nxt := _list_item(line)) is not None and not _THEMATIC.match(line):
            indent = content_indent(nxt)
            after_blank, lazy_ok = False, bool(nxt.groups()[-1].strip())
            i += 1
            continue
        if not after_blank and lazy_ok and not _interrupts_paragraph(line):
            i += 1
            continue
        break
    # Trailing blank lines belong to whatever follows, not to the list.
    while i > 0 and _blank(lines[i - 1]):
        i -= 1
    return i


def _closing_gitlab_quote_fence(lines: list[str], i: int) -> int | None:
    for j in range(i + 1, len(lines)):
        if _GITLAB_QUOTE_FENCE.match(lines[j]):
            return j
    return None


def top_level_paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) 0-based line numbers of every top-level paragraph, lines given without newlines."""
    paragraphs: list[tuple[int, int]] = []
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        if _blank(line):
            i += 1
            continue
        if _GITLAB_QUOTE_FENCE.match(line) and (close := _closing_gitlab_quote_fence(lines, i)) is not None:
            # GitLab rewrites a >>> ... >>> fence into a blockquote before parsing.
            i = close + 1
            continue
        if _fence_open(line):
            i = _skip_fence(lines, i)
            continue
        if _indent(line) >= 4 or _ATX.match(line) or _THEMATIC.match(line):
            i += 1
            continue
        if _QUOTE.match(line):
            i = _skip_blockquote(lines, i)
            continue
        if _list_item(line):
            i = _skip_list(lines, i)
            continue
        if (kind := _html_kind(line, interrupting=False)) is not None:
            i = _skip_html(lines, i, kind)
            continue
        if i + 1 < n and "|" in line and "|" in lines[i + 1] and _TABLE_DELIMITER.match(lines[i + 1]):
            # GFM table: its rows run to the next blank line.
            i += 2
            while i < n and not _blank(lines[i]):
                i += 1
            continue
        start, heading = i, False
        i += 1
        while i < n:
            nxt = lines[i]
            if _blank(nxt):
                break
            if _SETEXT.match(nxt):
                heading = True  # the paragraph was a setext heading after all
                i += 1
                break
            if _interrupts_paragraph(nxt):
                break
            i += 1
        if not heading:
            paragraphs.append((start, i - 1))
    return paragraphs
