"""Owns GitLab webhook deliveries for tests: issue and comment payloads and their headers, in GitLab's shape.

Payloads follow GitLab's "Webhook events" page and the builders behind it (Gitlab::DataBuilder::Issuable,
Gitlab::HookData::IssueBuilder, Gitlab::DataBuilder::Note); headers follow WebHookService#build_headers.
`issue` arguments are issue API objects as FakeGitLab.issue(iid) returns them (hand-written dicts with
fewer keys work too).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import uuid
import zlib
from datetime import datetime
from typing import Any

GITLAB_VERSION = "17.11.1"
DEFAULT_INSTANCE = "http://127.0.0.1"
DEFAULT_PROJECT_PATH = "learning-development/general"
_DEFAULT_TIME = "2025-01-06T09:00:00.000Z"

# X-Gitlab-Event per event_type / object_kind: WebHookService.hook_to_event("confidential_issue_hooks") etc.
HOOK_NAMES = {
    "issue": "Issue Hook",
    "confidential_issue": "Confidential Issue Hook",
    "work_item": "Issue Hook",
    "note": "Note Hook",
    "confidential_note": "Confidential Note Hook",
    "merge_request": "Merge Request Hook",
    "push": "Push Hook",
    "tag_push": "Tag Push Hook",
    "pipeline": "Pipeline Hook",
}
ISSUE_ACTIONS = ("open", "close", "reopen", "update")

_note_ids = itertools.count(20_001)


# ---------------------------------------------------------------------- headers


def headers(
    kind: str,
    *,
    token: str,
    idempotency_key: str | None = None,
    event_uuid: str | None = None,
    webhook_uuid: str | None = None,
    instance: str = DEFAULT_INSTANCE,
) -> dict[str, str]:
    """Request headers of one delivery; `kind` is a hook name ("Issue Hook") or an event type ("issue").

    Idempotency-Key is what stays the same when GitLab re-sends a delivery; X-Gitlab-Webhook-UUID is new on
    every attempt, and X-Gitlab-Event-UUID is GitLab's recursion-detection id, not a delivery id.
    """
    return {
        "Content-Type": "application/json",
        "User-Agent": f"GitLab/{GITLAB_VERSION}",
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        "X-Gitlab-Event": HOOK_NAMES.get(kind, kind),
        "X-Gitlab-Webhook-UUID": webhook_uuid or str(uuid.uuid4()),
        "X-Gitlab-Instance": instance,
        "X-Gitlab-Token": token,
        "X-Gitlab-Event-UUID": event_uuid or str(uuid.uuid4()),
    }


def redelivery(original: dict[str, str]) -> dict[str, str]:
    """Headers of GitLab re-sending the same delivery (retry or "Resend request"): same Idempotency-Key only."""
    again = dict(original)
    again["X-Gitlab-Webhook-UUID"] = str(uuid.uuid4())
    again["X-Gitlab-Event-UUID"] = str(uuid.uuid4())
    return again


def event_header(payload: dict[str, Any]) -> str:
    """The X-Gitlab-Event GitLab sends with this payload (confidential issues and notes have their own)."""
    return HOOK_NAMES[payload.get("event_type") or payload["object_kind"]]


# ---------------------------------------------------------------------- `changes` builders


def title_change(previous: str, current: str) -> dict[str, Any]:
    return {"title": {"previous": previous, "current": current}}


def labels_change(previous: list[str], current: list[str]) -> dict[str, Any]:
    return {"labels": {"previous": [label(n) for n in previous], "current": [label(n) for n in current]}}


def assignees_change(previous: list[str], current: list[str]) -> dict[str, Any]:
    """`changes.assignees` as GitLab sends it: the user objects assigned before and after."""
    return {"assignees": {"previous": [_user_hook_attrs(u) for u in previous],
                          "current": [_user_hook_attrs(u) for u in current]}}


def due_date_change(previous: str | None, current: str | None) -> dict[str, Any]:
    return {"due_date": {"previous": previous, "current": current}}


def description_change(previous: str | None, current: str | None) -> dict[str, Any]:
    return {"description": {"previous": previous, "current": current}}


def state_change_closed(closed_at: str = "2025-01-06 10:00:00 UTC") -> dict[str, Any]:
    return {
        "state_id": {"previous": 1, "current": 2},
        "closed_at": {"previous": None, "current": closed_at},
    }


def state_change_reopened(closed_at: str = "2025-01-06 10:00:00 UTC") -> dict[str, Any]:
    return {
        "state_id": {"previous": 2, "current": 1},
        "closed_at": {"previous": closed_at, "current": None},
    }


# ---------------------------------------------------------------------- payloads


def issue_event(
    issue: dict[str, Any],
    *,
    action: str,
    changes: dict[str, Any] | None = None,
    user: str | dict[str, Any] = "lnd-lead",
    project: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Issue Hook body (Confidential Issue Hook when the issue is confidential).

    `changes=None` gives what GitLab sends for the action alone: every set attribute "from null" on open, the
    state flip on close and reopen. Close and reopen always carry the state flip, and the "current" side of
    `changes` is written into the issue's attributes so the payload agrees with itself.
    """
    if action not in ISSUE_ACTIONS:
        raise ValueError(f"action must be one of {ISSUE_ACTIONS}, got {action!r}")
    issue = copy.deepcopy(issue)
    proj = _project_hook_attrs(project, issue)
    actor = _user_hook_attrs(user)
    if action == "close":
        issue["state"] = "closed"
    elif action == "reopen":
        issue["state"] = "opened"

    all_changes = _changes_for(issue, action, copy.deepcopy(changes) if changes is not None else None, actor)
    for key in ("title", "description", "due_date"):
        if key in all_changes:
            issue[key] = all_changes[key]["current"]
    if "labels" in all_changes:
        for side in ("previous", "current"):
            for obj in all_changes["labels"][side]:
                obj["project_id"] = obj["project_id"] or proj["id"]
        issue["labels"] = [obj["title"] for obj in all_changes["labels"]["current"]]

    attrs = _issue_hook_attrs(issue, proj, actor)
    attrs["action"] = action
    payload: dict[str, Any] = {
        "object_kind": "issue",
        "event_type": "confidential_issue" if issue.get("confidential") else "issue",
        "user": actor,
        "project": proj,
        "object_attributes": attrs,
        "labels": copy.deepcopy(attrs["labels"]),
        "changes": all_changes,
        "repository": _repository(proj),
    }
    assignees = [_user_hook_attrs(a) for a in issue.get("assignees") or []]
    if assignees:  # GitLab adds the key only when there are assignees
        payload["assignees"] = assignees
    return payload


def note_event(
    issue: dict[str, Any],
    note: str,
    *,
    user: str | dict[str, Any] = "lnd-lead",
    system: bool = False,
    project: dict[str, Any] | None = None,
    internal: bool = False,
    action: str = "create",
    note_id: int | None = None,
) -> dict[str, Any]:
    """A Note Hook body for a comment on an issue (Confidential Note Hook for confidential issues or notes)."""
    issue = copy.deepcopy(issue)
    proj = _project_hook_attrs(project, issue)
    actor = _user_hook_attrs(user)
    nid = note_id if note_id is not None else next(_note_ids)
    when = _utc_text(issue.get("updated_at") or _DEFAULT_TIME)
    attrs = {
        "attachment": None,
        "author_id": actor["id"],
        "change_position": None,
        "commit_id": None,
        "created_at": when,
        "discussion_id": hashlib.sha1(f"discussion-{nid}".encode()).hexdigest(),
        "id": nid,
        "internal": internal,
        "line_code": None,
        "note": note,
        "noteable_id": issue.get("id") or 1000 + issue["iid"],
        "noteable_type": "Issue",
        "original_position": None,
        "position": None,
        "project_id": proj["id"],
        "resolved_at": None,
        "resolved_by_id": None,
        "resolved_by_push": None,
        "st_diff": None,
        "system": system,
        "type": None,
        "updated_at": when,
        "updated_by_id": None,
        "description": note,
        "url": f"{_issue_url(issue, proj)}#note_{nid}",
        "action": action,
    }
    issue_attrs = _issue_hook_attrs(issue, proj, actor)
    confidential = bool(issue.get("confidential")) or internal
    return {
        "object_kind": "note",
        "event_type": "confidential_note" if confidential else "note",
        "user": actor,
        "project_id": proj["id"],
        "project": proj,
        "object_attributes": attrs,
        "repository": _repository(proj),
        "issue": issue_attrs,
    }


def merge_request_note_event(
    note: str,
    *,
    mr_iid: int = 1,
    user: str | dict[str, Any] = "lnd-lead",
    project: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Note Hook body for a comment on a merge request (learnbot ignores these)."""
    proj = _project_hook_attrs(project, {"project_id": 101})
    actor = _user_hook_attrs(user)
    nid = next(_note_ids)
    mr_url = f"{proj['web_url']}/-/merge_requests/{mr_iid}"
    return {
        "object_kind": "note",
        "event_type": "note",
        "user": actor,
        "project_id": proj["id"],
        "project": proj,
        "object_attributes": {
            "id": nid,
            "note": note,
            "noteable_type": "MergeRequest",
            "author_id": actor["id"],
            "created_at": _utc_text(_DEFAULT_TIME),
            "updated_at": _utc_text(_DEFAULT_TIME),
            "project_id": proj["id"],
            "attachment": None,
            "line_code": None,
            "commit_id": "",
            "noteable_id": 7000 + mr_iid,
            "system": False,
            "st_diff": None,
            "action": "create",
            "url": f"{mr_url}#note_{nid}",
        },
        "repository": _repository(proj),
        "merge_request": {
            "id": 7000 + mr_iid,
            "iid": mr_iid,
            "title": "Update onboarding course outline",
            "state": "opened",
            "source_branch": "outline",
            "target_branch": "main",
            "source_project_id": proj["id"],
            "target_project_id": proj["id"],
            "url": mr_url,
            "labels": [],
        },
    }


def push_event(*, user: str | dict[str, Any] = "lnd-lead", project: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Push Hook body (learnbot ignores these); note its flat user_* fields instead of a `user` object."""
    proj = _project_hook_attrs(project, {"project_id": 101})
    actor = _user_hook_attrs(user)
    after = hashlib.sha1(b"after").hexdigest()
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": hashlib.sha1(b"before").hexdigest(),
        "after": after,
        "ref": "refs/heads/main",
        "ref_protected": True,
        "checkout_sha": after,
        "message": None,
        "user_id": actor["id"],
        "user_name": actor["name"],
        "user_username": actor["username"],
        "user_email": actor["email"],
        "user_avatar": actor["avatar_url"],
        "project_id": proj["id"],
        "project": proj,
        "commits": [
            {
                "id": after,
                "message": "Fix typo in module 2\n",
                "title": "Fix typo in module 2",
                "timestamp": "2025-01-06T09:00:00+00:00",
                "url": f"{proj['web_url']}/-/commit/{after}",
                "author": {"name": actor["name"], "email": actor["email"]},
                "added": [],
                "modified": ["module-2.md"],
                "removed": [],
            }
        ],
        "total_commits_count": 1,
        "push_options": {},
        "repository": {**_repository(proj), "git_http_url": proj["git_http_url"], "git_ssh_url": proj["git_ssh_url"]},
    }


# ---------------------------------------------------------------------- pieces


def label(name: str, *, project_id: int | None = None) -> dict[str, Any]:
    """A label as hooks carry it (Label#hook_attrs); ids are stable per name so previous/current agree."""
    return {
        "id": 300 + zlib.crc32(name.encode()) % 10_000,
        "title": name,
        "color": "#6699cc",
        "project_id": project_id,
        "created_at": "2025-01-02 09:00:00 UTC",
        "updated_at": "2025-01-02 09:00:00 UTC",
        "template": False,
        "description": None,
        "type": "ProjectLabel",
        "group_id": None,
    }


def _changes_for(
    issue: dict[str, Any], action: str, changes: dict[str, Any] | None, actor: dict[str, Any]
) -> dict[str, Any]:
    if action == "open":
        if changes is not None:
            return changes
        # Rails' previous_changes after create: every attribute that was set, from null.
        created = _utc_text(issue.get("created_at") or _DEFAULT_TIME)
        opened: dict[str, Any] = {
            "author_id": {"previous": None, "current": (issue.get("author") or actor).get("id", actor["id"])},
            "created_at": {"previous": None, "current": created},
            "id": {"previous": None, "current": issue.get("id") or 1000 + issue["iid"]},
            "iid": {"previous": None, "current": issue["iid"]},
            "project_id": {"previous": None, "current": issue.get("project_id")},
            "title": {"previous": None, "current": issue["title"]},
            "updated_at": {"previous": None, "current": created},
        }
        if issue.get("description") is not None:
            opened["description"] = {"previous": None, "current": issue["description"]}
        if issue.get("due_date") is not None:
            opened["due_date"] = {"previous": None, "current": issue["due_date"]}
        return dict(sorted(opened.items()))
    out = changes if changes is not None else {}
    if action == "close" and "state_id" not in out:
        out.update(state_change_closed())
    elif action == "reopen" and "state_id" not in out:
        out.update(state_change_reopened())
    out.setdefault("updated_by_id", {"previous": None, "current": actor["id"]})
    out.setdefault(
        "updated_at",
        {
            "previous": _utc_text(issue.get("created_at") or _DEFAULT_TIME),
            "current": _utc_text(issue.get("updated_at") or _DEFAULT_TIME),
        },
    )
    return out


def _issue_hook_attrs(issue: dict[str, Any], proj: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
    """object_attributes of an issue hook (and the `issue` of a note hook), as Gitlab::HookData::IssueBuilder."""
    state = issue.get("state", "opened")
    assignee_ids = [a["id"] for a in issue.get("assignees") or [] if "id" in a]
    author = issue.get("author") or actor
    time_stats = issue.get("time_stats") or {}
    milestone = issue.get("milestone")
    return {
        "author_id": author.get("id", actor["id"]),
        "closed_at": _iso_z(issue.get("closed_at")),
        "confidential": bool(issue.get("confidential")),
        "created_at": _iso_z(issue.get("created_at") or _DEFAULT_TIME),
        "description": issue.get("description"),
        "discussion_locked": issue.get("discussion_locked"),
        "due_date": issue.get("due_date"),
        "id": issue.get("id") or 1000 + issue["iid"],
        "iid": issue["iid"],
        "last_edited_at": None,
        "last_edited_by_id": None,
        "milestone_id": milestone.get("id") if isinstance(milestone, dict) else None,
        "moved_to_id": issue.get("moved_to_id"),
        "duplicated_to_id": None,
        "project_id": proj["id"],
        "relative_position": None,
        "state_id": 2 if state == "closed" else 1,
        "time_estimate": time_stats.get("time_estimate", 0),
        "title": issue["title"],
        "updated_at": _iso_z(issue.get("updated_at") or _DEFAULT_TIME),
        "updated_by_id": actor["id"],
        "weight": issue.get("weight"),
        "health_status": None,
        "type": "Issue",
        "url": _issue_url(issue, proj),
        "total_time_spent": time_stats.get("total_time_spent", 0),
        "time_change": 0,
        "human_total_time_spent": time_stats.get("human_total_time_spent"),
        "human_time_change": None,
        "human_time_estimate": time_stats.get("human_time_estimate"),
        "assignee_ids": assignee_ids,
        "assignee_id": assignee_ids[0] if assignee_ids else None,
        "labels": [label(n, project_id=proj["id"]) for n in issue.get("labels") or []],
        "state": state,
        "severity": "unknown",
        "customer_relations_contacts": [],
    }


def _project_hook_attrs(project: dict[str, Any] | None, issue: dict[str, Any]) -> dict[str, Any]:
    """Project#hook_attrs, from an API project object, a hook-shaped one, or what the issue says."""
    if project is not None and "git_http_url" in project:
        return copy.deepcopy(project)
    if project is not None:
        project_id = project["id"]
        path = project.get("path_with_namespace") or DEFAULT_PROJECT_PATH
        web_url = project.get("web_url") or f"{DEFAULT_INSTANCE}/{path}"
        name = project.get("name") or path.rpartition("/")[2]
        description = project.get("description")
    else:
        project_id = issue.get("project_id") or 101
        issue_url = str(issue.get("web_url") or "")
        web_url = issue_url.partition("/-/issues/")[0] or f"{DEFAULT_INSTANCE}/{DEFAULT_PROJECT_PATH}"
        name = _split_web_url(web_url)[1].rpartition("/")[2].replace("-", " ").title()
        description = None
    host, path = _split_web_url(web_url)
    namespace = path.rpartition("/")[0].rpartition("/")[2] or path
    return {
        "id": project_id,
        "name": name,
        "description": description,
        "web_url": web_url,
        "avatar_url": None,
        "git_ssh_url": f"git@{host}:{path}.git",
        "git_http_url": f"{web_url}.git",
        "namespace": namespace.replace("-", " ").title(),
        "visibility_level": 0,
        "path_with_namespace": path,
        "default_branch": "main",
        "ci_config_path": None,
        "homepage": web_url,
        "url": f"git@{host}:{path}.git",
        "ssh_url": f"git@{host}:{path}.git",
        "http_url": f"{web_url}.git",
    }


def _user_hook_attrs(user: str | dict[str, Any]) -> dict[str, Any]:
    """User#hook_attrs; email is "[REDACTED]" as GitLab sends it for users without a public email."""
    if isinstance(user, dict):
        username = user["username"]
        return {
            "id": user.get("id", _user_id(username)),
            "name": user.get("name") or _display_name(username),
            "username": username,
            "avatar_url": user.get("avatar_url") or _avatar(username),
            "email": "[REDACTED]",
        }
    return {
        "id": _user_id(user),
        "name": _display_name(user),
        "username": user,
        "avatar_url": _avatar(user),
        "email": "[REDACTED]",
    }


def _repository(proj: dict[str, Any]) -> dict[str, Any]:
    # Deprecated in GitLab but still sent.
    return {
        "name": proj["name"],
        "url": proj["url"],
        "description": proj["description"],
        "homepage": proj["homepage"],
    }


def _issue_url(issue: dict[str, Any], proj: dict[str, Any]) -> str:
    return str(issue.get("web_url") or f"{proj['web_url']}/-/issues/{issue['iid']}")


def _split_web_url(web_url: str) -> tuple[str, str]:
    """(host, path_with_namespace) of a project URL."""
    host_port, _, path = web_url.partition("://")[2].partition("/")
    return host_port.partition(":")[0], path or DEFAULT_PROJECT_PATH


def _user_id(username: str) -> int:
    return 1000 + zlib.crc32(username.encode()) % 90_000


def _display_name(username: str) -> str:
    return username.replace(".", " ").replace("-", " ").replace("_", " ").title()


def _avatar(username: str) -> str:
    digest = hashlib.sha256(f"{username}@example.com".encode()).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?s=80&d=identicon"


def _iso_z(value: str | None) -> str | None:
    """The API's millisecond timestamps as issue hooks write them: 2025-01-06T09:00:00Z."""
    if value is None:
        return None
    return _parse_time(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_text(value: str) -> str:
    """Timestamps as note hooks and `changes` write them: 2025-01-06 09:00:00 UTC."""
    return _parse_time(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parse_time(value: str) -> datetime:
    if value.endswith(" UTC"):
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S UTC")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
