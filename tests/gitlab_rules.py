"""What GitLab would act on in a description or a note, read more strictly than GitLab reads it.

Shared by the unit, e2e and property tests: a test says "no quick action, no group mention" with these,
not with the exact form learnbot's neutralisers happen to write.
"""

from __future__ import annotations

import re
import unicodedata

# GitLab's user reference: "@" and a name, not after an ASCII word character (Ruby's \w). Read here
# case-blind, with anything but more of a name after it, and inside code spans too.
GROUP_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(?:all|here)(?![A-Za-z0-9_-])", re.IGNORECASE)


def group_mentions(text: str) -> list[str]:
    """Every "@all"/"@here" in `text` that could notify a whole project."""
    return GROUP_MENTION.findall(text)


def _blank_or_invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


def quick_action_lines(text: str) -> list[str]:
    """Every line that starts with "/" once a reader skips blank, control and invisible characters at its
    start. Lines are read both ways: as GitLab's quick-action reader does (every CR deleted first) and as
    Markdown might (a CR ends a line), each split wherever Python's splitlines() splits."""
    found = []
    for line in [*text.replace("\r", "").splitlines(), *text.splitlines()]:
        rest = line.lstrip("".join(ch for ch in set(line) if _blank_or_invisible(ch)))
        if rest.startswith("/"):
            found.append(line)
    return found


def visible(text: str) -> str:
    """`text` as a reader sees it: invisible (format) characters dropped."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
