"""GitLab's REST API through python-gitlab: the L&D project's issues."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import gitlab
import requests
from gitlab.exceptions import GitlabError

from bot.domain.markers import Markers
from bot.gateways.observed import observed_call

log = logging.getLogger(__name__)

# GitLab's own limits on an issue (REST API reference).
TITLE_MAX = 255
DESCRIPTION_MAX = 1_048_576


class GitLabUnavailable(Exception):
    """GitLab did not answer, or answered 429/5xx: try again later (after `retry_after` if given)."""

    def __init__(self, message: str, retry_after: float | None = None, status: int = 0):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status  # GitLab's HTTP status, 0 when it did not answer


class GitLabRejected(Exception):
    """GitLab refused the request for good (bad data, no permission, no such project)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status  # GitLab's HTTP status (400, 401, 403, 404, 422 …)


@dataclass(frozen=True)
class IssueRef:
    iid: int
    web_url: str
    title: str
    state: str
    labels: list[str] = field(default_factory=list)
    description: str = ""
    due_date: str | None = None  # "YYYY-MM-DD", as GitLab sends it
    assignees: list[str] = field(default_factory=list)  # usernames


def _ref(issue: Any) -> IssueRef:
    a = issue.attributes if hasattr(issue, "attributes") else issue
    return IssueRef(
        iid=int(a["iid"]), web_url=a["web_url"], title=a["title"], state=a["state"],
        labels=list(a.get("labels") or []), description=a.get("description") or "",
        due_date=a.get("due_date") or None,
        assignees=[str(u.get("username")) for u in a.get("assignees") or [] if isinstance(u, dict)],
    )


class _RetryAfter(threading.local):
    """python-gitlab's errors drop the response headers; a session hook keeps Retry-After per thread."""

    value: float | None = None

    def hook(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        header = response.headers.get("Retry-After")
        try:
            self.value = float(header) if header else None
        except ValueError:
            self.value = None


# Every GitLab call runs after the answer to Slack (bot.after_answer, or the worker): it may take
# its time, but never forever. Connecting is quick or GitLab is down; a read may wait on a big write.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class GitLabGateway:
    def __init__(self, url: str, token: str, project: str, *, timeout: float = READ_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT):
        # python-gitlab must never repeat a POST by itself: a repeated create is a duplicate
        # issue. Our job queue retries instead, after looking for the issue first.
        self._retry_after = _RetryAfter()
        session = requests.Session()
        session.hooks["response"].append(self._retry_after.hook)
        # python-gitlab hands `timeout` to requests as it is; requests reads a pair as (connect, read).
        timeouts: Any = (min(connect_timeout, timeout), timeout)
        self._gl = gitlab.Gitlab(
            url, private_token=token, timeout=timeouts, retry_transient_errors=False, session=session
        )
        self._project_id = project
        self._project = self._gl.projects.get(project, lazy=True)
        # Keyed by the token: whoever can forge learnbot's markers can write as learnbot anyway.
        self.markers = Markers.keyed_by(token)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._retry_after.value = None
        with observed_call("gitlab", what.replace(" ", "_")):
            return self._call_once(what, fn, *args, **kwargs)

    def _call_once(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, obey_rate_limit=False, retry_transient_errors=False, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise GitLabUnavailable(f"{what}: GitLab did not answer ({type(exc).__name__})") from exc
        except GitlabError as exc:
            code = exc.response_code or 0
            if code == 429 or code >= 500:
                raise GitLabUnavailable(f"{what}: GitLab answered {code}", self._retry_after.value, code) from exc
            if code == 401:
                # The token, not the request, is wrong (revoked, expired): every write would fail until an
                # operator fixes GITLAB_TOKEN, so the work waits with backoff instead of failing for good.
                raise GitLabUnavailable(f"{what}: GitLab refused the token (401): fix GITLAB_TOKEN "
                                        "(`learnbot check --online`)", status=401) from exc
            raise GitLabRejected(f"{what}: GitLab answered {code}: {exc.error_message}", code) from exc

    def create_issue(
        self, *, title: str, description: str, labels: list[str], weight: int | None = None,
        due_date: date | None = None,
    ) -> IssueRef:
        data: dict[str, Any] = {"title": title, "description": description, "labels": ",".join(labels)}
        if weight is not None:
            data["weight"] = weight
        if due_date is not None:
            data["due_date"] = due_date.isoformat()
        return _ref(self._call("create issue", self._project.issues.create, data))

    def find_issue_with(self, marker: str) -> IssueRef | None:
        """The issue whose description holds `marker` (the request's hidden id), if GitLab has one."""
        issues = self._call(
            "search issues", self._project.issues.list,
            query_parameters={"search": marker, "in": "description", "state": "all"},
            per_page=20, get_all=False,
        )
        # Search is a substring match; only an exact marker counts.
        found = [_ref(i) for i in issues if marker in (i.attributes.get("description") or "")]
        return min(found, key=lambda r: r.iid) if found else None

    def issue_template(self, name: str) -> str | None:
        """The text of the project's description template `name` (`.gitlab/issue_templates/<name>.md`, GitLab's
        `GET /projects/:id/templates/issues/:name`), or None when the project has none of that name (404) or an
        empty one. GitLabUnavailable when GitLab cannot say (5xx, 429, no answer)."""
        try:
            found = self._call("read issue template", self._project.issue_templates.get, name)
        except GitLabRejected as exc:
            if exc.status == 404:
                return None
            raise
        content = found.attributes.get("content")
        return content if isinstance(content, str) and content.strip() else None

    def get_issue(self, iid: int) -> IssueRef:
        return _ref(self._call("read issue", self._project.issues.get, iid))

    def update_issue(self, iid: int, **fields: Any) -> IssueRef:
        """PUT only the given fields (description, title, state_event …); returns the issue after."""
        data = self._call("update issue", self._project.issues.update, iid, fields)
        return _ref(data)

    def health(self) -> dict[str, Any]:
        """Read the project with the token (GitLabRejected with 401/403/404 says what is wrong)."""
        return dict(self._call("read project", self._gl.projects.get, self._project_id).attributes)

    def add_note(self, iid: int, body: str) -> int:
        """A comment on the issue; its id."""
        issue = self._project.issues.get(iid, lazy=True)
        note = self._call("add note", issue.notes.create, {"body": body})
        return int(note.attributes.get("id") or 0)

    def find_note_with(self, iid: int, marker: str) -> bool:
        """Whether one of the issue's newest notes holds `marker` (a lost answer may hide a written note).

        `marker` is one of self.markers: signed, so a note someone typed cannot hold the next one."""
        issue = self._project.issues.get(iid, lazy=True)
        notes = self._call("list notes", issue.notes.list, per_page=100, get_all=False,
                           query_parameters={"sort": "desc", "order_by": "created_at"})
        return any(marker in (n.attributes.get("body") or "") for n in notes)

    def user_id(self, username: str) -> int | None:
        """The id of an active GitLab user by username (None: no such user)."""
        users = self._call("find user", self._gl.users.list, username=username, get_all=False)
        return int(users[0].attributes["id"]) if users else None

    def link_issues(self, iid: int, target_iid: int) -> bool:
        """A `relates_to` link from issue `iid` to `target_iid` in the same project (issue links API);
        False when GitLab already holds that link (409: only one link may join two issues)."""
        issue = self._project.issues.get(iid, lazy=True)
        try:
            self._call("link issues", issue.links.create, {
                "target_project_id": self._project_id, "target_issue_iid": target_iid, "link_type": "relates_to"})
        except GitLabRejected as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def linked_urls(self, iid: int) -> set[str]:
        """The web URLs of the issues linked to `iid` (a lost answer may hide a link made)."""
        issue = self._project.issues.get(iid, lazy=True)
        linked = self._call("list issue links", issue.links.list, per_page=100, get_all=False)
        return {str(i.attributes.get("web_url")) for i in linked}
