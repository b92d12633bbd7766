"""Owns FakeGitLab: a loopback HTTP stand-in for the GitLab REST API v4 issue endpoints learnbot uses."""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlencode

from ._http import Call, FakeHTTPServer, Fault, Matcher, Response
from ._quick_actions import Command, extract_commands

TITLE_LIMIT = 255
LABEL_TITLE_LIMIT = 255  # Label#title, validated when an issue's labels create new ones
DESCRIPTION_LIMIT = 1_048_576
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20

# GitLab's `at_least_one_of` list for PUT /projects/:id/issues/:iid, in its own order.
_UPDATE_KEYS = (
    "assignee_id",
    "assignee_ids",
    "confidential",
    "created_at",
    "description",
    "discussion_locked",
    "due_date",
    "labels",
    "milestone_id",
    "state_event",
    "title",
    "updated_at",
    "weight",
    "add_labels",
    "remove_labels",
    "issue_type",
)
_QUOTED_TERM = re.compile(r'(?:^|(?<= ))"[^"]+"(?= |$)')
_LABEL_REF = re.compile(r'~"([^"]+)"|~([^\s~,"]+)')
_USER_REF = re.compile(r"@([\w.\-]+)")


class GitLabError(Exception):
    """Raised inside a route to answer with a GitLab-shaped error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


Route = Callable[..., Response]


class FakeGitLab(FakeHTTPServer):
    """GitLab REST v4 stand-in; point `gitlab.Gitlab(url=fake.url, private_token=fake.token)` at it."""

    def __init__(self, *, token: str = "glpat-test", username: str = "learnbot", user_id: int = 7) -> None:
        super().__init__()
        self.token = token
        self._username = username
        self._user_id = user_id
        self._routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("GET", re.compile(r"^/user$"), self._route_current_user),
            ("GET", re.compile(r"^/users$"), self._route_list_users),
            ("GET", re.compile(r"^/projects/(?P<pid>[^/]+)$"), self._route_get_project),
            ("GET", re.compile(r"^/projects/(?P<pid>[^/]+)/labels$"), self._route_list_labels),
            ("GET", re.compile(r"^/projects/(?P<pid>[^/]+)/issues$"), self._route_list_issues),
            ("POST", re.compile(r"^/projects/(?P<pid>[^/]+)/issues$"), self._route_create_issue),
            ("GET", re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)$"), self._route_get_issue),
            ("PUT", re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)$"), self._route_update_issue),
            ("GET", re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)/notes$"), self._route_list_notes),
            ("POST", re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)/notes$"), self._route_create_note),
            (
                "GET",
                re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)/notes/(?P<nid>\d+)$"),
                self._route_get_note,
            ),
            ("GET", re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)/links$"), self._route_list_links),
            ("POST", re.compile(r"^/projects/(?P<pid>[^/]+)/issues/(?P<iid>\d+)/links$"), self._route_create_link),
            (
                "GET",
                re.compile(r"^/projects/(?P<pid>[^/]+)/templates/issues/(?P<name>[^/]+)$"),
                self._route_get_issue_template,
            ),
        ]
        self._reset_state()

    def _reset_state(self) -> None:
        self._projects: dict[int, dict[str, Any]] = {}
        self._issues: dict[tuple[int, int], dict[str, Any]] = {}
        self._labels: dict[int, dict[str, dict[str, Any]]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        # Issue links (issue links API): two-way, at most one between two issues.
        self._links: list[dict[str, Any]] = []
        self._link_ids = itertools.count(701)
        # Ids deliberately differ from iids so code that mixes them up fails loudly.
        self._project_ids = itertools.count(101)
        self._issue_ids = itertools.count(5001)
        self._note_ids = itertools.count(9001)
        self._label_ids = itertools.count(301)
        self._user_ids = itertools.count(50)
        self._add_user(self._username, name=self._username.title(), user_id=self._user_id)

    # ----------------------------------------------------------------- public helpers

    @property
    def url(self) -> str:
        """Instance URL for python-gitlab: http://127.0.0.1:PORT (it appends /api/v4)."""
        return self.base_url

    def add_project(self, path_with_namespace: str = "learning-development/general", id: int | None = None) -> dict:
        """Create a project addressable by numeric id or URL-encoded path; returns its API object."""
        with self._state_lock:
            project_id = id if id is not None else next(self._project_ids)
            namespace, _, path = path_with_namespace.rpartition("/")
            name = path.replace("-", " ").title()
            namespace_name = " / ".join(p.replace("-", " ").title() for p in namespace.split("/")) if namespace else ""
            project: dict[str, Any] = {
                "id": project_id,
                "description": None,
                "name": name,
                "name_with_namespace": f"{namespace_name} / {name}" if namespace_name else name,
                "path": path,
                "path_with_namespace": path_with_namespace,
                "created_at": _now(),
                "default_branch": "main",
                "tag_list": [],
                "topics": [],
                "visibility": "private",
                "issues_enabled": True,
                "archived": False,
                "namespace": {
                    "id": 1000 + project_id,
                    "name": namespace_name or name,
                    "path": namespace.rpartition("/")[2] or path,
                    "kind": "group" if namespace else "user",
                    "full_path": namespace or path,
                    "parent_id": None,
                    "avatar_url": None,
                },
                "_next_iid": 1,
                "_issue_templates": {},
            }
            self._projects[project_id] = project
            self._labels[project_id] = {}
            return self._project_json(project)

    def add_issue_template(self, name: str, content: str, *, project: int | str | None = None) -> None:
        """A description template, as `.gitlab/issue_templates/<name>.md` on the project's default branch holds it."""
        with self._state_lock:
            self._project_for(project)["_issue_templates"][name] = content

    def remove_issue_template(self, name: str, *, project: int | str | None = None) -> None:
        with self._state_lock:
            self._project_for(project)["_issue_templates"].pop(name, None)

    def add_user(self, username: str, *, name: str | None = None, user_id: int | None = None) -> dict:
        """Register a user that /assign @username can find."""
        with self._state_lock:
            return self._add_user(username, name=name, user_id=user_id)

    def add_labels(self, *names: str, project: int | str | None = None) -> None:
        """Create project labels (quick actions only apply labels that already exist)."""
        with self._state_lock:
            self._ensure_labels(self._project_for(project), list(names))

    def labels(self, project: int | str | None = None) -> list[str]:
        """Names of the project's labels."""
        with self._state_lock:
            return sorted(self._labels[self._project_for(project)["id"]], key=str.lower)

    def create_issue(self, title: str, *, project: int | str | None = None, **fields: Any) -> dict:
        """Seed an issue directly (no HTTP call recorded), as POST …/issues would create it."""
        with self._state_lock:
            issue = self._create_issue(self._project_for(project), {"title": title, **fields})
            return self._issue_json(issue)

    def issues(self, project_id: int | str | None = None) -> list[dict]:
        """API objects of all issues (of one project if given), oldest first."""
        with self._state_lock:
            pid = self._project_for(project_id)["id"] if project_id is not None else None
            return [
                self._issue_json(i)
                for (p, _), i in sorted(self._issues.items(), key=lambda kv: kv[1]["id"])
                if pid is None or p == pid
            ]

    def issue(self, iid: int, project: int | str | None = None) -> dict:
        """API object of one issue (default project: the first one added)."""
        with self._state_lock:
            return self._issue_json(self._stored_issue(iid, project))

    def notes(self, iid: int, project: int | str | None = None) -> list[dict]:
        """Notes of one issue, oldest first, system notes included."""
        with self._state_lock:
            return copy.deepcopy(self._stored_issue(iid, project)["_notes"])

    def links(self, iid: int, project: int | str | None = None) -> list[dict]:
        """The issues linked to #iid, as GET …/issues/:iid/links answers (either side of each link)."""
        with self._state_lock:
            issue = self._stored_issue(iid, project)
            return self._links_of(issue)

    def quick_actions_applied(self, iid: int, project: int | str | None = None) -> list[dict]:
        """Every quick action GitLab would have extracted for the issue: command, arg, source, applied."""
        with self._state_lock:
            return copy.deepcopy(self._stored_issue(iid, project)["_quick_actions"])

    def close_issue(self, iid: int, project: int | str | None = None) -> dict:
        """Close an issue as someone in GitLab's UI would."""
        with self._state_lock:
            issue = self._stored_issue(iid, project)
            self._set_state(issue, "closed")
            return self._issue_json(issue)

    def reopen_issue(self, iid: int, project: int | str | None = None) -> dict:
        """Reopen an issue as someone in GitLab's UI would."""
        with self._state_lock:
            issue = self._stored_issue(iid, project)
            self._set_state(issue, "opened")
            return self._issue_json(issue)

    def update_issue(self, iid: int, project: int | str | None = None, **fields: Any) -> dict:
        """Apply PUT-style fields directly (no HTTP call recorded)."""
        with self._state_lock:
            proj = self._project_for(project)
            issue = self._stored_issue(iid, proj["id"])
            self._update_issue(proj, issue, fields)
            return self._issue_json(issue)

    # ----------------------------------------------------------------- HTTP hooks

    def _matcher(self, match: Any) -> Matcher:
        if isinstance(match, tuple):
            verb, pattern = match
            regex = re.compile(pattern)
            return lambda call: call.method == verb.upper() and regex.search(call.path) is not None
        if isinstance(match, str):
            regex = re.compile(match)
            return lambda call: regex.search(call.path) is not None
        return super()._matcher(match)

    def _fault_response(self, fault: Fault, call: Call) -> Response:
        status = fault.status or 200
        if fault.body is not None:
            return Response(status, fault.body)
        if status == 429:
            # Rack::Attack's throttle answer is plain text.
            return Response(429, "Retry later\n")
        return Response(status, {"message": f"{status} {HTTPStatus(status).phrase}"})

    def _bad_body(self, call: Call, error: str) -> Response:
        return Response(400, {"error": f"The request body is invalid: {error}"})

    def _handle(self, call: Call) -> Response:
        if not call.path.startswith("/api/v4/"):
            return Response(404, {"error": "404 Not Found"})
        if not self._authorized(call):
            return Response(401, {"message": "401 Unauthorized"})
        path = call.path[len("/api/v4") :]
        path_known = False
        for verb, pattern, route in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            path_known = True
            if verb != call.method:
                continue
            try:
                return route(call, _params(call), **match.groupdict())
            except GitLabError as exc:
                return Response(exc.status, exc.body)
        if path_known:
            return Response(405, {"error": "405 Method Not Allowed"})
        return Response(404, {"error": "404 Not Found"})

    def _authorized(self, call: Call) -> bool:
        if call.header("Private-Token") == self.token:
            return True
        return call.header("Authorization") == f"Bearer {self.token}"

    # ----------------------------------------------------------------- routes

    def _route_current_user(self, call: Call, params: dict[str, Any]) -> Response:
        return Response(
            200,
            {
                **self._current_user(),
                "bio": "",
                "location": "",
                "public_email": None,
                "bot": False,
                "created_at": "2024-01-01T00:00:00.000Z",
                "email": f"{self._username}@example.com",
                "is_admin": False,
                "can_create_project": True,
                "two_factor_enabled": False,
            },
        )

    def _route_list_users(self, call: Call, params: dict[str, Any]) -> Response:
        # GET /users?username=… finds one user (case-insensitive), or none: an empty list, not a 404.
        users = list(self._users.values())
        if params.get("username") not in (None, ""):
            wanted = str(params["username"]).lower()
            users = [u for u in users if u["username"].lower() == wanted]
        return self._paginate(call, params, [self._user_json(u) for u in users])

    def _route_get_project(self, call: Call, params: dict[str, Any], pid: str) -> Response:
        return Response(200, self._project_json(self._project(pid)))

    def _route_get_issue_template(self, call: Call, params: dict[str, Any], pid: str, name: str) -> Response:
        # lib/api/project_templates.rb: TemplateFinder by file name (no ".md"); `not_found!('Template')` otherwise.
        project = self._project(pid)
        key = unquote(name)
        content = project["_issue_templates"].get(key)
        if content is None:
            raise GitLabError(404, {"message": "404 Template Not Found"})
        return Response(200, {"name": key, "content": content})

    def _route_list_labels(self, call: Call, params: dict[str, Any], pid: str) -> Response:
        project = self._project(pid)
        labels = sorted(self._labels[project["id"]].values(), key=lambda lbl: lbl["name"].lower())
        return self._paginate(call, params, copy.deepcopy(labels))

    def _route_list_issues(self, call: Call, params: dict[str, Any], pid: str) -> Response:
        project = self._project(pid)
        issues = [i for (p, _), i in self._issues.items() if p == project["id"]]
        state = params.get("state", "all")
        if state not in ("opened", "closed", "all"):
            raise GitLabError(400, {"error": "state does not have a valid value"})
        if state != "all":
            issues = [i for i in issues if i["state"] == state]
        if params.get("labels") not in (None, ""):
            wanted = _as_list(params["labels"])
            if [w.lower() for w in wanted] == ["none"]:
                issues = [i for i in issues if not i["labels"]]
            elif [w.lower() for w in wanted] == ["any"]:
                issues = [i for i in issues if i["labels"]]
            else:
                issues = [i for i in issues if all(w in i["labels"] for w in wanted)]
        if params.get("iids") not in (None, "", []):
            try:
                iids = {int(v) for v in _as_list(params["iids"])}
            except ValueError as exc:
                raise GitLabError(400, {"error": "iids is invalid"}) from exc
            issues = [i for i in issues if i["iid"] in iids]
        search = str(params.get("search") or "")
        if search:
            columns = [c.strip() for c in str(params.get("in") or "title,description").split(",")]
            columns = [c for c in columns if c in ("title", "description")] or ["title", "description"]
            issues = [i for i in issues if any(_fuzzy_match(i.get(c), search) for c in columns)]
        order_by = params.get("order_by", "created_at")
        if order_by not in (
            "created_at",
            "updated_at",
            "title",
            "due_date",
            "relative_position",
            "priority",
            "label_priority",
            "milestone_due",
            "popularity",
            "weight",
        ):
            raise GitLabError(400, {"error": "order_by does not have a valid value"})
        sort = params.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise GitLabError(400, {"error": "sort does not have a valid value"})
        key = order_by if order_by in ("created_at", "updated_at", "title") else "created_at"
        issues.sort(key=lambda i: (i[key] or "", i["id"]), reverse=sort == "desc")
        return self._paginate(call, params, [self._issue_json(i) for i in issues])

    def _route_create_issue(self, call: Call, params: dict[str, Any], pid: str) -> Response:
        project = self._project(pid)
        issue = self._create_issue(project, params)
        return Response(201, self._issue_json(issue))

    def _route_get_issue(self, call: Call, params: dict[str, Any], pid: str, iid: str) -> Response:
        return Response(200, self._issue_json(self._issue(self._project(pid), int(iid))))

    def _route_update_issue(self, call: Call, params: dict[str, Any], pid: str, iid: str) -> Response:
        project = self._project(pid)
        issue = self._issue(project, int(iid))
        if not any(k in params for k in _UPDATE_KEYS):
            raise GitLabError(
                400, {"error": ", ".join(_UPDATE_KEYS) + " are missing, at least one parameter must be provided"}
            )
        self._update_issue(project, issue, params)
        return Response(200, self._issue_json(issue))

    def _route_list_notes(self, call: Call, params: dict[str, Any], pid: str, iid: str) -> Response:
        issue = self._issue(self._project(pid), int(iid))
        order_by = params.get("order_by", "created_at")
        if order_by not in ("created_at", "updated_at"):
            raise GitLabError(400, {"error": "order_by does not have a valid value"})
        sort = params.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise GitLabError(400, {"error": "sort does not have a valid value"})
        notes = sorted(issue["_notes"], key=lambda n: (n[order_by], n["id"]), reverse=sort == "desc")
        return self._paginate(call, params, copy.deepcopy(notes))

    def _route_get_note(self, call: Call, params: dict[str, Any], pid: str, iid: str, nid: str) -> Response:
        issue = self._issue(self._project(pid), int(iid))
        for note in issue["_notes"]:
            if note["id"] == int(nid):
                return Response(200, copy.deepcopy(note))
        raise GitLabError(404, {"message": "404 Note Not Found"})

    def _route_create_note(self, call: Call, params: dict[str, Any], pid: str, iid: str) -> Response:
        project = self._project(pid)
        issue = self._issue(project, int(iid))
        if "body" not in params:
            raise GitLabError(400, {"error": "body is missing"})
        body = str(params["body"] or "")
        cleaned, commands = extract_commands(body)
        changes = self._apply_commands(project, issue, commands, source="note", persisted=True)
        if commands and not (cleaned or "").strip():
            # A note made only of quick actions is not saved; GitLab answers 202 with what changed.
            return Response(
                202,
                {
                    "commands_changes": changes,
                    "summary": [f"Applied /{c.name}" for c in commands],
                },
            )
        if not body.strip():
            raise GitLabError(400, {"message": {"note": ["can't be blank"]}})
        internal = _as_bool(params.get("internal")) or _as_bool(params.get("confidential"))
        note = self._add_note(issue, cleaned or "", system=False, internal=internal)
        if changes:
            note["commands_changes"] = changes
        return Response(201, copy.deepcopy(note))

    def _route_list_links(self, call: Call, params: dict[str, Any], pid: str, iid: str) -> Response:
        return Response(200, self._links_of(self._issue(self._project(pid), int(iid))))

    def _route_create_link(self, call: Call, params: dict[str, Any], pid: str, iid: str) -> Response:
        source = self._issue(self._project(pid), int(iid))
        for required in ("target_project_id", "target_issue_iid"):
            if params.get(required) in (None, ""):
                raise GitLabError(400, {"error": f"{required} is missing"})
        link_type = str(params.get("link_type") or "relates_to")
        if link_type not in ("relates_to", "blocks", "is_blocked_by"):
            raise GitLabError(400, {"error": "link_type does not have a valid value"})
        try:
            target_iid = int(str(params["target_issue_iid"]))
        except ValueError as exc:
            raise GitLabError(400, {"error": "target_issue_iid is invalid"}) from exc
        target = self._issue(self._project(str(params["target_project_id"])), target_iid)
        if target is source:
            raise GitLabError(400, {"message": "Cannot link an issue to itself"})
        ends = {self._issue_key(source), self._issue_key(target)}
        if any({link["source"], link["target"]} == ends for link in self._links):
            raise GitLabError(409, {"message": "Issue(s) already assigned"})
        at = _now()
        self._links.append({"id": next(self._link_ids), "source": self._issue_key(source),
                            "target": self._issue_key(target), "link_type": link_type, "created_at": at})
        return Response(201, {"source_issue": self._issue_json(source), "target_issue": self._issue_json(target),
                              "link_type": link_type})

    @staticmethod
    def _issue_key(issue: dict[str, Any]) -> tuple[int, int]:
        return int(issue["project_id"]), int(issue["iid"])

    def _links_of(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        key, out = self._issue_key(issue), []
        for link in self._links:
            if key not in (link["source"], link["target"]):
                continue
            other = link["target"] if link["source"] == key else link["source"]
            # Seen from the target, "blocks" reads "is_blocked_by" and the other way round.
            kind = link["link_type"] if link["source"] == key else {
                "blocks": "is_blocked_by", "is_blocked_by": "blocks"}.get(link["link_type"], link["link_type"])
            out.append({**self._issue_json(self._issues[other]), "issue_link_id": link["id"], "link_type": kind,
                        "link_created_at": link["created_at"], "link_updated_at": link["created_at"]})
        return out

    # ----------------------------------------------------------------- domain logic

    def _add_user(self, username: str, *, name: str | None, user_id: int | None) -> dict[str, Any]:
        user = {
            "id": user_id if user_id is not None else next(self._user_ids),
            "username": username,
            "name": name or username.replace(".", " ").title(),
            "state": "active",
            "locked": False,
        }
        self._users[username] = user
        return self._user_json(user)

    def _user_json(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            **copy.deepcopy(user),
            "avatar_url": f"{self._base()}/uploads/-/system/user/avatar/{user['id']}/avatar.png",
            "web_url": f"{self._base()}/{user['username']}",
        }

    def _current_user(self) -> dict[str, Any]:
        return self._user_json(self._users[self._username])

    def _base(self) -> str:
        # Helpers may run before start(); URLs then point at a port-less loopback.
        return self.base_url if self._port is not None else "http://127.0.0.1"

    def _project(self, raw: str) -> dict[str, Any]:
        key = unquote(raw)
        if key.isdigit() and int(key) in self._projects:
            return self._projects[int(key)]
        for project in self._projects.values():
            if project["path_with_namespace"].lower() == key.lower():
                return project
        raise GitLabError(404, {"message": "404 Project Not Found"})

    def _project_for(self, project: int | str | None) -> dict[str, Any]:
        if project is None:
            if not self._projects:
                raise LookupError("FakeGitLab has no project; call add_project() first")
            return next(iter(self._projects.values()))
        try:
            return self._project(str(project))
        except GitLabError as exc:
            raise LookupError(f"FakeGitLab has no project {project!r}") from exc

    def _issue(self, project: dict[str, Any], iid: int) -> dict[str, Any]:
        issue = self._issues.get((project["id"], iid))
        if issue is None:
            raise GitLabError(404, {"message": "404 Not found"})
        return issue

    def _stored_issue(self, iid: int, project: int | str | None) -> dict[str, Any]:
        proj = self._project_for(project)
        issue = self._issues.get((proj["id"], int(iid)))
        if issue is None:
            raise LookupError(f"FakeGitLab has no issue #{iid} in {proj['path_with_namespace']}")
        return issue

    def _ensure_labels(self, project: dict[str, Any], names: list[str]) -> None:
        labels = self._labels[project["id"]]
        for name in names:
            if name not in labels:
                labels[name] = {
                    "id": next(self._label_ids),
                    "name": name,
                    "color": "#6699cc",
                    "text_color": "#FFFFFF",
                    "description": None,
                    "open_issues_count": 0,
                    "closed_issues_count": 0,
                    "open_merge_requests_count": 0,
                    "subscribed": False,
                    "priority": None,
                    "is_project_label": True,
                }

    def _validate_text(self, params: dict[str, Any], *, creating: bool) -> None:
        errors: dict[str, list[str]] = {}
        if creating and "title" not in params:
            raise GitLabError(400, {"error": "title is missing"})
        if "title" in params:
            title = str(params["title"] or "")
            if not title.strip():
                errors["title"] = ["can't be blank"]
            elif len(title) > TITLE_LIMIT:
                errors["title"] = [f"is too long (maximum is {TITLE_LIMIT} characters)"]
        if params.get("description") is not None and len(str(params["description"])) > DESCRIPTION_LIMIT:
            errors["description"] = [f"is too long (maximum is {DESCRIPTION_LIMIT} characters)"]
        for key in ("labels", "add_labels"):
            if key in params and any(len(n) > LABEL_TITLE_LIMIT for n in _as_list(params[key])):
                errors["labels"] = [f"Title is too long (maximum is {LABEL_TITLE_LIMIT} characters)"]
        if errors:
            raise GitLabError(400, {"message": errors})

    def _create_issue(self, project: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        self._validate_text(params, creating=True)
        fields = _coerce_fields(params)
        now = _now()
        iid = project["_next_iid"]
        issue: dict[str, Any] = {
            "id": next(self._issue_ids),
            "iid": iid,
            "project_id": project["id"],
            "title": str(params["title"]),
            "description": None,
            "state": "opened",
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "closed_by": None,
            "labels": [],
            "milestone": None,
            "assignees": [],
            "author": self._current_user(),
            "type": "ISSUE",
            "issue_type": "issue",
            "upvotes": 0,
            "downvotes": 0,
            "merge_requests_count": 0,
            "due_date": None,
            "confidential": False,
            "discussion_locked": None,
            "weight": None,
            "severity": "UNKNOWN",
            "moved_to_id": None,
            "service_desk_reply_to": None,
            "imported": False,
            "imported_from": "none",
            "has_tasks": False,
            "task_status": "",
            "blocking_issues_count": 0,
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
            "_notes": [],
            "_quick_actions": [],
        }
        project["_next_iid"] = iid + 1
        self._apply_fields(project, issue, fields, system_notes=False)
        description = fields.get("description")
        if description is not None:
            cleaned, commands = extract_commands(description)
            issue["description"] = cleaned
            self._apply_commands(project, issue, commands, source="description", persisted=False)
        self._issues[(project["id"], iid)] = issue
        return issue

    def _update_issue(self, project: dict[str, Any], issue: dict[str, Any], params: dict[str, Any]) -> None:
        self._validate_text(params, creating=False)
        fields = _coerce_fields(params)
        if "state_event" in params and params["state_event"] not in ("close", "reopen"):
            raise GitLabError(400, {"error": "state_event does not have a valid value"})
        description = fields.pop("description", None)
        self._apply_fields(project, issue, fields, system_notes=True)
        if fields.get("state_event") == "close" and issue["state"] == "opened":
            self._set_state(issue, "closed")
        elif fields.get("state_event") == "reopen" and issue["state"] == "closed":
            self._set_state(issue, "opened")
        if "description" in params and description != issue["description"]:
            # Quick actions run only when the description actually changes (GitLab 13.2+).
            cleaned, commands = extract_commands(description)
            issue["description"] = cleaned
            self._apply_commands(project, issue, commands, source="description", persisted=True)
        issue["updated_at"] = _now()

    def _apply_fields(
        self, project: dict[str, Any], issue: dict[str, Any], fields: dict[str, Any], *, system_notes: bool
    ) -> None:
        if "title" in fields and fields["title"] != issue["title"]:
            if system_notes:
                self._add_note(issue, f"changed title from **{issue['title']}** to **{fields['title']}**")
            issue["title"] = fields["title"]
        if "labels" in fields:
            self._ensure_labels(project, fields["labels"])
            self._set_labels(project, issue, fields["labels"], system_notes=system_notes)
        if "add_labels" in fields:
            self._ensure_labels(project, fields["add_labels"])
            self._set_labels(project, issue, issue["labels"] + fields["add_labels"], system_notes=system_notes)
        if "remove_labels" in fields:
            remaining = [lbl for lbl in issue["labels"] if lbl not in fields["remove_labels"]]
            self._set_labels(project, issue, remaining, system_notes=system_notes)
        for key in ("due_date", "weight", "confidential", "discussion_locked"):
            if key in fields:
                issue[key] = fields[key]
        if "assignee_ids" in fields:
            by_id = {u["id"]: u for u in self._users.values()}
            # GitLab silently drops ids that are not users (it cannot assign them).
            issue["assignees"] = [self._user_json(by_id[i]) for i in fields["assignee_ids"] if i in by_id]

    def _set_labels(
        self, project: dict[str, Any], issue: dict[str, Any], names: list[str], *, system_notes: bool
    ) -> None:
        # Scoped labels ("scope::value") are exclusive: of one scope, the label given last wins.
        last = {_scope(n): i for i, n in enumerate(names) if _scope(n)}
        names = [n for i, n in enumerate(names) if not _scope(n) or last[_scope(n)] == i]
        new = sorted(dict.fromkeys(names), key=str.lower)
        old = issue["labels"]
        if system_notes:
            ids = self._labels[project["id"]]
            added = [f"~{ids[n]['id']}" for n in new if n not in old and n in ids]
            removed = [f"~{ids[n]['id']}" for n in old if n not in new and n in ids]
            parts = []
            if added:
                parts.append(f"added {' '.join(added)} label{'s' if len(added) > 1 else ''}")
            if removed:
                parts.append(f"removed {' '.join(removed)} label{'s' if len(removed) > 1 else ''}")
            if parts:
                self._add_note(issue, " and ".join(parts))
        issue["labels"] = new

    def _set_state(self, issue: dict[str, Any], state: str) -> None:
        if issue["state"] == state:
            return
        now = _now()
        issue["state"] = state
        issue["updated_at"] = now
        if state == "closed":
            issue["closed_at"] = now
            issue["closed_by"] = self._current_user()
            self._add_note(issue, "closed")
        else:
            issue["closed_at"] = None
            issue["closed_by"] = None
            self._add_note(issue, "reopened")

    def _add_note(
        self, issue: dict[str, Any], body: str, *, system: bool = True, internal: bool = False
    ) -> dict[str, Any]:
        now = _now()
        note = {
            "id": next(self._note_ids),
            "type": None,
            "body": body,
            "attachment": None,
            "author": self._current_user(),
            "created_at": now,
            "updated_at": now,
            "system": system,
            "noteable_id": issue["id"],
            "noteable_type": "Issue",
            "project_id": issue["project_id"],
            "resolvable": False,
            "confidential": internal,
            "internal": internal,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": issue["iid"],
            "commands_changes": {},
        }
        issue["_notes"].append(note)
        return note

    def _apply_commands(
        self,
        project: dict[str, Any],
        issue: dict[str, Any],
        commands: list[Command],
        *,
        source: str,
        persisted: bool,
    ) -> dict[str, Any]:
        """Apply the commands GitLab would; `persisted` is False while an issue is being created."""
        changes: dict[str, Any] = {}
        for command in commands:
            applied = self._apply_command(project, issue, command, persisted, changes)
            issue["_quick_actions"].append(
                {"command": command.name, "arg": command.arg, "source": source, "applied": applied}
            )
        return changes

    def _apply_command(
        self,
        project: dict[str, Any],
        issue: dict[str, Any],
        command: Command,
        persisted: bool,
        changes: dict[str, Any],
    ) -> bool:
        name, arg = command.name, command.arg
        known_labels = self._labels[project["id"]]
        # Availability conditions follow Gitlab::QuickActions::*Actions (e.g. /close needs a saved, open issue).
        if name == "close" and persisted and issue["state"] == "opened":
            self._set_state(issue, "closed")
            changes["state_event"] = "close"
        elif name == "reopen" and persisted and issue["state"] == "closed":
            self._set_state(issue, "opened")
            changes["state_event"] = "reopen"
        elif name == "title" and persisted and arg:
            self._apply_fields(project, issue, {"title": arg}, system_notes=True)
            changes["title"] = arg
        elif name in ("label", "labels") and known_labels:
            found = [n for n in _label_names(arg) if n in known_labels]
            if not found:
                return False
            self._set_labels(project, issue, issue["labels"] + found, system_notes=persisted)
            changes.setdefault("add_label_ids", []).extend(known_labels[n]["id"] for n in found)
        elif name in ("unlabel", "remove_label") and persisted and issue["labels"]:
            found = [n for n in _label_names(arg) if n in known_labels] if arg else list(issue["labels"])
            if not found:
                return False
            self._set_labels(project, issue, [n for n in issue["labels"] if n not in found], system_notes=True)
            changes.setdefault("remove_label_ids", []).extend(known_labels[n]["id"] for n in found)
        elif name == "relabel" and persisted and issue["labels"]:
            found = [n for n in _label_names(arg) if n in known_labels]
            if not found:
                return False
            self._set_labels(project, issue, found, system_notes=True)
            changes["label_ids"] = [known_labels[n]["id"] for n in found]
        elif name == "assign":
            users = self._users_in(arg)
            if not users:
                return False
            ids = [u["id"] for u in issue["assignees"]] + [u["id"] for u in users]
            self._apply_fields(project, issue, {"assignee_ids": list(dict.fromkeys(ids))}, system_notes=False)
            changes["assignee_ids"] = ids
        elif name == "unassign" and persisted and issue["assignees"]:
            users = self._users_in(arg)
            drop = {u["id"] for u in users} if users else {u["id"] for u in issue["assignees"]}
            issue["assignees"] = [u for u in issue["assignees"] if u["id"] not in drop]
            changes["assignee_ids"] = [u["id"] for u in issue["assignees"]]
        elif name == "due":
            due = _parse_due(arg)
            if due is None:
                return False
            issue["due_date"] = due
            changes["due_date"] = due
        elif name == "remove_due_date" and persisted and issue["due_date"]:
            issue["due_date"] = None
            changes["due_date"] = None
        elif name == "weight" and arg.isdigit():
            issue["weight"] = int(arg)
            changes["weight"] = int(arg)
        elif name == "clear_weight" and persisted and issue["weight"] is not None:
            issue["weight"] = None
            changes["weight"] = None
        elif name == "confidential" and not issue["confidential"]:
            issue["confidential"] = True
            changes["confidential"] = True
        elif name == "lock" and persisted and not issue["discussion_locked"]:
            issue["discussion_locked"] = True
            changes["discussion_locked"] = True
        elif name == "unlock" and persisted and issue["discussion_locked"]:
            issue["discussion_locked"] = False
            changes["discussion_locked"] = False
        else:
            # Not available in this state, or a command whose effect the fake does not model.
            return False
        return True

    def _users_in(self, arg: str) -> list[dict[str, Any]]:
        names = _USER_REF.findall(arg)
        if re.search(r"(?:^|\s)me(?:\s|$)", arg):
            names.append(self._username)
        return [self._users[n] for n in dict.fromkeys(names) if n in self._users]

    # ----------------------------------------------------------------- JSON shapes

    def _project_json(self, project: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in project.items() if not k.startswith("_")}
        base = self._base()
        web_url = f"{base}/{project['path_with_namespace']}"
        api = f"{base}/api/v4/projects/{project['id']}"
        out["web_url"] = web_url
        out["http_url_to_repo"] = f"{web_url}.git"
        out["ssh_url_to_repo"] = f"git@127.0.0.1:{project['path_with_namespace']}.git"
        out["readme_url"] = None
        out["avatar_url"] = None
        out["namespace"]["web_url"] = f"{base}/{project['namespace']['full_path']}"
        out["open_issues_count"] = sum(
            1 for (p, _), i in self._issues.items() if p == project["id"] and i["state"] == "opened"
        )
        out["_links"] = {
            "self": api,
            "issues": f"{api}/issues",
            "labels": f"{api}/labels",
            "events": f"{api}/events",
            "members": f"{api}/members",
        }
        return out

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in issue.items() if not k.startswith("_")}
        project = self._projects[issue["project_id"]]
        base = self._base()
        api = f"{base}/api/v4/projects/{project['id']}/issues/{issue['iid']}"
        out["web_url"] = f"{base}/{project['path_with_namespace']}/-/issues/{issue['iid']}"
        out["assignee"] = out["assignees"][0] if out["assignees"] else None
        out["user_notes_count"] = sum(1 for n in issue["_notes"] if not n["system"])
        out["references"] = {
            "short": f"#{issue['iid']}",
            "relative": f"#{issue['iid']}",
            "full": f"{project['path_with_namespace']}#{issue['iid']}",
        }
        out["_links"] = {
            "self": api,
            "notes": f"{api}/notes",
            "award_emoji": f"{api}/award_emoji",
            "project": f"{base}/api/v4/projects/{project['id']}",
            "closed_as_duplicate_of": None,
        }
        return out

    def _paginate(self, call: Call, params: dict[str, Any], items: list[Any]) -> Response:
        try:
            page = max(1, int(params.get("page", 1)))
            per_page = min(MAX_PER_PAGE, max(1, int(params.get("per_page", DEFAULT_PER_PAGE))))
        except ValueError as exc:
            raise GitLabError(400, {"error": "page is invalid"}) from exc
        total = len(items)
        total_pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(to_page: int) -> str:
            query = {k: v for k, v in call.query.items() if k != "page"}
            query["page"] = str(to_page)
            query["per_page"] = str(per_page)
            return f"{self.base_url}{call.path}?{urlencode(query, doseq=True)}"

        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < total_pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(1)}>; rel="first"')
        links.append(f'<{link(total_pages)}>; rel="last"')
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(total),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return Response(200, chunk, headers)


# ---------------------------------------------------------------------- parameter helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _params(call: Call) -> dict[str, Any]:
    """Query and body merged as Grape does, with Rails-style `key[]` folded into `key`."""
    merged: dict[str, Any] = dict(call.query)
    if isinstance(call.body, dict):
        merged.update(call.body)
    return {(k[:-2] if k.endswith("[]") else k): v for k, v in merged.items()}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = [str(v) for v in value] if isinstance(value, list) else str(value).split(",")
    return [i.strip() for i in items if i.strip()]


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "t")


def _scope(label: str) -> str | None:
    """A scoped label's scope: everything before the last '::' (GitLab's rule for nested scopes)."""
    return label.rsplit("::", 1)[0] if "::" in label else None


def _coerce_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Validate and convert the issue attributes GitLab accepts, raising its 400 shapes."""
    fields: dict[str, Any] = {}
    if "title" in params:
        fields["title"] = str(params["title"])
    if "description" in params:
        fields["description"] = None if params["description"] is None else str(params["description"])
    for key in ("labels", "add_labels", "remove_labels"):
        if key in params:
            fields[key] = list(dict.fromkeys(_as_list(params[key])))
    if "due_date" in params:
        raw = params["due_date"]
        if raw in (None, ""):
            fields["due_date"] = None
        else:
            try:
                fields["due_date"] = date.fromisoformat(str(raw)).isoformat()
            except ValueError as exc:
                raise GitLabError(400, {"error": "due_date is invalid"}) from exc
    if "weight" in params:
        raw = params["weight"]
        if raw in (None, ""):
            fields["weight"] = None
        else:
            try:
                weight = int(raw)
            except (TypeError, ValueError) as exc:
                raise GitLabError(400, {"error": "weight is invalid"}) from exc
            if weight < 0:
                raise GitLabError(400, {"message": {"weight": ["must be greater than or equal to 0"]}})
            fields["weight"] = weight
    if "assignee_ids" in params or "assignee_id" in params:
        raw_ids = params["assignee_ids"] if "assignee_ids" in params else params["assignee_id"]
        values = raw_ids if isinstance(raw_ids, list) else _as_list(raw_ids)
        try:
            fields["assignee_ids"] = [int(v) for v in values if str(v).strip()]
        except ValueError as exc:
            raise GitLabError(400, {"error": "assignee_ids is invalid"}) from exc
    for key in ("confidential", "discussion_locked"):
        if key in params:
            fields[key] = _as_bool(params[key])
    if "state_event" in params:
        fields["state_event"] = params["state_event"]
    return fields


def _fuzzy_match(value: str | None, query: str) -> bool:
    """Gitlab::SQL::Pattern#fuzzy_arel_match: every term of 3+ chars is an ILIKE '%term%'."""
    query = " ".join(query.split())
    if not query:
        return True
    quoted = [q[1:-1] for q in _QUOTED_TERM.findall(query)]
    terms = _QUOTED_TERM.sub("", query).split() + quoted
    terms = [t for t in terms if len(t) >= 3]
    text = (value or "").lower()
    if terms:
        return all(t.lower() in text for t in terms)
    # No term long enough: GitLab falls back to a case-insensitive match of the whole query.
    return text == query.lower()


def _label_names(arg: str) -> list[str]:
    refs = [quoted or bare for quoted, bare in _LABEL_REF.findall(arg)]
    if refs:
        return list(dict.fromkeys(refs))
    return [n.strip() for n in arg.split(",") if n.strip()]


def _parse_due(arg: str) -> str | None:
    text = arg.strip().lower()
    today = datetime.now(UTC).date()
    if text == "today":
        return today.isoformat()
    if text == "tomorrow":
        return (today + timedelta(days=1)).isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None
