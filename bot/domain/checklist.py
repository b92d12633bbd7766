"""The milestone checklist inside an issue description: rewriting only learnbot's own lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

# One line per milestone, as _plan.md.j2 writes it; the hidden key survives edits to the title.
_LINE = re.compile(
    r"^(?P<lead>[ \t]*[-*] \[)(?P<box>[ xX])(?P<mid>\] )(?P<date>\d{4}-\d{2}-\d{2})(?P<rest>.*?"
    r"<!-- learnbot:milestone:(?P<key>[a-z0-9-]+) -->)[ \t]*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class StepState:
    done: bool
    due_on: date


def sync_checklist(description: str, states: Mapping[str, StepState]) -> str:
    """Tick done steps and rewrite dates in learnbot's checklist lines; every other byte stays.

    A box someone ticked by hand in GitLab stays ticked: learnbot never unticks.
    """

    def rewrite(m: re.Match[str]) -> str:
        state = states.get(m["key"])
        if state is None:
            return m[0]
        box = "x" if state.done or m["box"] in "xX" else " "
        return f"{m['lead']}{box}{m['mid']}{state.due_on.isoformat()}{m['rest']}"

    return _LINE.sub(rewrite, description)


def ticked_keys(description: str) -> set[str]:
    """Milestone keys whose box is ticked in the description (by anyone)."""
    return {m["key"] for m in _LINE.finditer(description) if m["box"] in "xX"}
