"""The L&D project's own description templates, read from GitLab at most once per TTL and never a reason not to file.

A model's template `new_pathway.md.j2` has the GitLab name `new_pathway` (`.gitlab/issue_templates/new_pathway.md`).
When the project has it, its text is the issue's body and learnbot's rendered answers, plan and marker follow in a
section of their own (bot/services/issues.py). When it has none (404), or GitLab cannot say (5xx, 429, a timeout),
the shipped template is used: filing never waits on a template.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.catalog import SupportModel
from bot.gateways.gitlab import GitLabRejected, GitLabUnavailable

log = logging.getLogger(__name__)

# "Read at most every few minutes": a template the team edits is used within this long.
TTL = timedelta(minutes=5)
# A template GitLab could not serve is asked for again sooner: the failure was GitLab's, not the team's choice.
FAILED_TTL = timedelta(minutes=1)
_SUFFIX = ".md.j2"


def gitlab_name(template: str) -> str:
    """The GitLab description-template name of a shipped template file: `new_pathway.md.j2` → `new_pathway`."""
    return template.removesuffix(_SUFFIX).rsplit("/", 1)[-1]


def template_names(model: SupportModel) -> list[str]:
    """Every GitLab template name a model may file with (one, or one per creator kit)."""
    if model.template:
        return [gitlab_name(model.template)]
    return [gitlab_name(o.template) for o in model.field(model.template_field or "").options if o.template]


@dataclass(frozen=True)
class Lookup:
    """What GitLab said about one template name: its text (None: use the shipped one), and why not if not."""

    name: str
    text: str | None
    problem: str | None = None  # GitLab could not serve it (5xx, timeout, refused): not the same as "none"


@dataclass
class _Entry:
    lookup: Lookup
    read_at: datetime
    ttl: timedelta


class ProjectTemplates:
    """An in-process cache of the project's description templates, over the GitLab gateway."""

    def __init__(self, read: Callable[[str], str | None], *, ttl: timedelta = TTL,
                 failed_ttl: timedelta = FAILED_TTL):
        self._read = read
        self._ttl = ttl
        self._failed_ttl = min(failed_ttl, ttl)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def lookup(self, name: str, *, now: datetime) -> Lookup:
        """The project's template `name` as of at most one TTL ago; a read GitLab fails is a Lookup with a problem."""
        with self._lock:
            entry = self._entries.get(name)
        # A clock moved back (a rehearsal's --now) is not "fresh": read again.
        if entry is not None and timedelta(0) <= now - entry.read_at < entry.ttl:
            return entry.lookup
        found = self.fresh(name)
        with self._lock:
            self._entries[name] = _Entry(found, now, self._failed_ttl if found.problem else self._ttl)
        return found

    def fresh(self, name: str) -> Lookup:
        """Ask GitLab now (`learnbot check --online`), bypassing the cache."""
        try:
            return Lookup(name, self._read(name))
        except (GitLabUnavailable, GitLabRejected) as exc:
            log.warning("description template %s: GitLab could not serve it (%s); the shipped one is used", name, exc)
            return Lookup(name, None, problem=str(exc))

    def text(self, template: str, *, now: datetime) -> str | None:
        """The project's text for the shipped template file `template`, or None: file with the shipped one."""
        return self.lookup(gitlab_name(template), now=now).text
