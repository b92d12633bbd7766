"""Reading GitLab webhook deliveries: issue and comment events as typed changes, every other kind ignored.

Pure: no network, no database, no Slack. Shapes follow GitLab's "Webhook events" page and the hook
data builders behind it (Gitlab::DataBuilder::Issuable, Gitlab::DataBuilder::Note).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote

ISSUE_HOOKS = frozenset({"issue hook", "confidential issue hook"})
NOTE_HOOKS = frozenset({"note hook", "confidential note hook"})

# Issue.available_states in GitLab: what `changes.state_id` carries when an issue is closed or reopened.
_STATE_ID_OPENED = 1
_STATE_ID_CLOSED = 2
_ISSUE_STATES = ("opened", "closed")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MISSING: Any = object()


class MalformedEvent(ValueError):
    """A delivery of a kind learnbot reads whose body is not GitLab's documented shape; says what is wrong."""


@dataclass(frozen=True)
class IssueChange:
    project_id: int
    iid: int
    action: str | None  # "open" | "close" | "reopen" | "update" as GitLab sends it; None on payloads without one
    state: str  # "opened" | "closed"
    title: str
    labels: tuple[str, ...]
    due_date: date | None
    description: str | None
    closed: bool
    reopened: bool
    title_changed: tuple[str, str] | None
    labels_changed: tuple[tuple[str, ...], tuple[str, ...]] | None
    due_date_changed: tuple[date | None, date | None] | None
    description_changed: bool
    actor: str | None
    url: str | None
    # GitLab usernames assigned before and after, when the assignees changed.
    assignees_changed: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    project_path: str | None = None  # project.path_with_namespace

    @property
    def issue_url(self) -> str | None:
        return self.url


@dataclass(frozen=True)
class NoteAdded:
    project_id: int
    iid: int
    note: str
    author: str | None
    url: str | None  # the note's own URL (…/-/issues/7#note_123)
    system: bool
    # An internal note (formerly "confidential"): for project members only, never for the requester.
    internal: bool = False
    issue_url: str | None = None
    project_path: str | None = None


def in_project(event: IssueChange | NoteAdded, project: str) -> bool:
    """Whether the event is about GITLAB_PROJECT's issues: `project` is its numeric id or its full path.

    A group or instance hook sends every project's events, and iids repeat across projects.
    GitLab paths are case-insensitive; a path arrives URL-encoded when copied from an API URL.
    """
    wanted = unquote(project).strip().strip("/")
    if wanted.isdigit():
        return event.project_id == int(wanted)
    return event.project_path is not None and event.project_path.casefold() == wanted.casefold()


def parse_event(event_header: str | None, body: Any) -> IssueChange | NoteAdded | None:
    """The issue change or new issue comment a delivery carries; None for kinds learnbot does not act on.

    `event_header` is the X-Gitlab-Event value. MalformedEvent when the body is not a JSON object, when the
    header and `object_kind` disagree, or when a field learnbot reads is missing or of the wrong type.
    """
    if not isinstance(body, dict):
        raise MalformedEvent(f"body must be a JSON object, got {_json_type(body)}")
    kind = _kind(event_header, body)
    if kind == "issue":
        return _issue_change(body)
    if kind == "note":
        return _note_added(body, confidential_hook=_is_confidential_note_hook(event_header, body))
    return None


# ---------------------------------------------------------------------- kinds


def _kind(event_header: str | None, body: Mapping[str, Any]) -> str | None:
    """Which of learnbot's kinds this is ("issue", "note") or None; header and object_kind must agree."""
    object_kind = _opt(body, "object_kind", str, "object_kind")
    header = (event_header or "").strip()
    if not header:
        if object_kind is None:
            raise MalformedEvent("object_kind is missing and there is no X-Gitlab-Event header")
        return object_kind if object_kind in ("issue", "note") else None
    folded = header.casefold()
    if folded in ISSUE_HOOKS:
        # Tasks, incidents and other work items arrive under the same header with object_kind "work_item".
        if object_kind in (None, "issue"):
            return "issue"
        if object_kind == "work_item":
            return None
    elif folded in NOTE_HOOKS:
        if object_kind in (None, "note"):
            return "note"
    elif object_kind not in ("issue", "note", "work_item"):
        return None
    raise MalformedEvent(f"X-Gitlab-Event is {header!r} but object_kind is {object_kind!r}")


def _issue_change(body: Mapping[str, Any]) -> IssueChange:
    attrs = _req(body, "object_attributes", dict, "object_attributes")
    iid = _positive_int(attrs, "iid", "object_attributes.iid")
    project_id = _project_id(body, (attrs, "object_attributes"))
    action = _opt(attrs, "action", str, "object_attributes.action")
    state = _req(attrs, "state", str, "object_attributes.state")
    if state not in _ISSUE_STATES:
        raise MalformedEvent(f"object_attributes.state must be 'opened' or 'closed', got {_show(state)}")
    title = _req(attrs, "title", str, "object_attributes.title")
    description = _opt(attrs, "description", str, "object_attributes.description")
    due_date = _date(attrs.get("due_date"), "object_attributes.due_date")
    labels = _current_labels(body, attrs)

    changes = body.get("changes")
    if changes is None:
        changes = {}
    elif not isinstance(changes, dict):
        raise MalformedEvent(f"changes must be an object, got {_json_type(changes)}")
    if action == "open":
        # On open GitLab reports every attribute as changed from null; the issue came into being, nothing changed.
        changes = {}

    title_change = _change(changes, "title")
    labels_change = _change(changes, "labels")
    due_change = _change(changes, "due_date")
    description_change = _change(changes, "description")
    closed, reopened = _state_flip(changes)

    return IssueChange(
        project_id=project_id,
        iid=iid,
        action=action,
        state=state,
        title=title,
        labels=labels,
        due_date=due_date,
        description=description,
        closed=action == "close" or closed,
        reopened=action == "reopen" or reopened,
        title_changed=(
            (
                _typed(title_change[0], str, "changes.title.previous"),
                _typed(title_change[1], str, "changes.title.current"),
            )
            if title_change
            else None
        ),
        labels_changed=(
            (
                _label_titles(labels_change[0], "changes.labels.previous"),
                _label_titles(labels_change[1], "changes.labels.current"),
            )
            if labels_change
            else None
        ),
        due_date_changed=(
            (_date(due_change[0], "changes.due_date.previous"), _date(due_change[1], "changes.due_date.current"))
            if due_change
            else None
        ),
        description_changed=description_change is not None,
        actor=_user_field(body, "username"),
        url=_opt(attrs, "url", str, "object_attributes.url"),
        assignees_changed=_assignees_change(changes),
        project_path=_project_path(body),
    )


def _assignees_change(changes: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    change = _change(changes, "assignees")
    if not change:
        return None

    def names(value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(u, dict) for u in value):
            raise MalformedEvent(f"{where} must be a list of users, got {_json_type(value)}")
        return tuple(str(u["username"]) for u in value if isinstance(u.get("username"), str))

    return names(change[0], "changes.assignees.previous"), names(change[1], "changes.assignees.current")


def _is_confidential_note_hook(event_header: str | None, body: Mapping[str, Any]) -> bool:
    header = (event_header or "").strip().casefold()
    return header == "confidential note hook" or body.get("event_type") == "confidential_note"


def _internal(attrs: Mapping[str, Any], issue: Mapping[str, Any], confidential_hook: bool) -> bool:
    """An internal note: `internal` (GitLab 15.0+) or `confidential` (before) is true; or GitLab sent it as a
    Confidential Note Hook on an issue that is not confidential, which only an internal note makes it."""
    flags = [_opt(attrs, key, bool, f"object_attributes.{key}") for key in ("internal", "confidential")]
    if any(flags):
        return True
    return confidential_hook and _opt(issue, "confidential", bool, "issue.confidential") is not True


def _note_added(body: Mapping[str, Any], *, confidential_hook: bool = False) -> NoteAdded | None:
    attrs = _req(body, "object_attributes", dict, "object_attributes")
    noteable_type = _req(attrs, "noteable_type", str, "object_attributes.noteable_type")
    if noteable_type != "Issue":
        return None  # comments on merge requests, commits, snippets, designs
    action = _opt(attrs, "action", str, "object_attributes.action")
    if action not in (None, "create"):
        return None  # an edited comment (GitLab 16.11+) is not a new one
    note = _req(attrs, "note", str, "object_attributes.note")
    system = _opt(attrs, "system", bool, "object_attributes.system") or False
    issue = _req(body, "issue", dict, "issue")
    iid = _positive_int(issue, "iid", "issue.iid")
    project_id = _project_id(body, (body, ""), (attrs, "object_attributes"), (issue, "issue"))
    url = _opt(attrs, "url", str, "object_attributes.url")
    return NoteAdded(
        project_id=project_id,
        iid=iid,
        note=note,
        author=_user_field(body, "name") or _user_field(body, "username"),
        url=url,
        system=system,
        internal=_internal(attrs, issue, confidential_hook),
        issue_url=_opt(issue, "url", str, "issue.url") or (url.partition("#")[0] if url else None),
        project_path=_project_path(body),
    )


# ---------------------------------------------------------------------- fields


def _project_id(body: Mapping[str, Any], *fallbacks: tuple[Mapping[str, Any], str]) -> int:
    """project.id, else the first `project_id` found in the fallbacks (GitLab sends both; older hooks only one)."""
    project = _opt(body, "project", dict, "project")
    if project is not None and project.get("id") is not None:
        return _positive_int(project, "id", "project.id")
    for container, prefix in fallbacks:
        if container.get("project_id") is not None:
            return _positive_int(container, "project_id", f"{prefix}.project_id" if prefix else "project_id")
    raise MalformedEvent("project.id is missing")


def _project_path(body: Mapping[str, Any]) -> str | None:
    project = _opt(body, "project", dict, "project")
    return _opt(project, "path_with_namespace", str, "project.path_with_namespace") if project else None


def _current_labels(body: Mapping[str, Any], attrs: Mapping[str, Any]) -> tuple[str, ...]:
    if body.get("labels") is not None:
        return _label_titles(body["labels"], "labels")
    if attrs.get("labels") is not None:
        return _label_titles(attrs["labels"], "object_attributes.labels")
    return ()


def _label_titles(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise MalformedEvent(f"{path} must be an array of labels, got {_json_type(value)}")
    titles = []
    for index, label in enumerate(value):
        if not isinstance(label, dict):
            raise MalformedEvent(f"{path}[{index}] must be a label object, got {_json_type(label)}")
        titles.append(_req(label, "title", str, f"{path}[{index}].title"))
    return tuple(titles)


def _change(changes: Mapping[str, Any], key: str) -> tuple[Any, Any] | None:
    """(previous, current) of one entry of `changes`, or None when it did not change."""
    entry = changes.get(key)
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise MalformedEvent(f"changes.{key} must be an object with previous and current, got {_json_type(entry)}")
    for side in ("previous", "current"):
        if side not in entry:
            raise MalformedEvent(f"changes.{key}.{side} is missing")
    return entry["previous"], entry["current"]


def _state_flip(changes: Mapping[str, Any]) -> tuple[bool, bool]:
    """(closed, reopened) as `changes` tells it: state_id 1↔2, closed_at set or cleared, or the pre-12 `state`."""
    closed = reopened = False
    state_id = _change(changes, "state_id")
    if state_id is not None:
        before = _typed_or_none(state_id[0], int, "changes.state_id.previous")
        after = _typed_or_none(state_id[1], int, "changes.state_id.current")
        closed |= after == _STATE_ID_CLOSED and before != _STATE_ID_CLOSED
        reopened |= before == _STATE_ID_CLOSED and after == _STATE_ID_OPENED
    closed_at = _change(changes, "closed_at")
    if closed_at is not None:
        before = _typed_or_none(closed_at[0], str, "changes.closed_at.previous")
        after = _typed_or_none(closed_at[1], str, "changes.closed_at.current")
        closed |= before is None and after is not None
        reopened |= before is not None and after is None
    state = _change(changes, "state")
    if state is not None:
        before = _typed_or_none(state[0], str, "changes.state.previous")
        after = _typed_or_none(state[1], str, "changes.state.current")
        closed |= after == "closed" and before != "closed"
        reopened |= before == "closed" and after == "opened"
    return closed, reopened


def _user_field(body: Mapping[str, Any], key: str) -> str | None:
    user = _opt(body, "user", dict, "user")
    if user is None:
        return None
    return _opt(user, key, str, f"user.{key}") or None


def _date(value: Any, path: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{path} must be a date (YYYY-MM-DD) or null, got {_json_type(value)}")
    if not _ISO_DATE.match(value):
        raise MalformedEvent(f"{path} is not a date (YYYY-MM-DD): {_show(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise MalformedEvent(f"{path} is not a date (YYYY-MM-DD): {_show(value)}") from exc


def _positive_int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = _req(obj, key, int, path)
    if value < 1:
        raise MalformedEvent(f"{path} must be a positive integer, got {value}")
    return value


def _req(obj: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise MalformedEvent(f"{path} is missing")
    return _typed(value, kind, path)


def _opt(obj: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
    return _typed_or_none(obj.get(key), kind, path)


def _typed_or_none(value: Any, kind: type, path: str) -> Any:
    return None if value is None else _typed(value, kind, path)


def _typed(value: Any, kind: type, path: str) -> Any:
    # bool is a subclass of int in Python but not in JSON: `"iid": true` is not an iid.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedEvent(f"{path} must be {_JSON_NAMES[kind]}, got {_json_type(value)}")
    return value


_JSON_NAMES: dict[type, str] = {
    int: "an integer",
    str: "a string",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")
