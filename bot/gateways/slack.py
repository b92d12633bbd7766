"""Slack's Web API, through one WebClient with slack_sdk's retry handlers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryState
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.gateways.observed import ObservedWebClient
from bot.gateways.pace import Pace, pace_of

log = logging.getLogger(__name__)

# Every call runs after the answer to Slack (bot.after_answer), never on the answering path; the
# timeouts (connect and each read: urllib uses one value for both) bound how long it holds a thread.
TIMEOUT = 10
# views.open/views.push must reach Slack within the trigger id's 3 seconds: past that the trigger
# is dead, so waiting longer (or after a long Retry-After) only holds a thread for nothing.
TRIGGER_TIMEOUT = 3
TRIGGER_LIFE = 3.0

# Slack's answers that mean learnbot's own setup is wrong (the token, its scopes), not the message: once an
# operator fixes it, the same send works, so such work waits with backoff instead of being dropped.
SETUP_ERRORS = frozenset({
    "missing_scope", "not_authed", "invalid_auth", "token_revoked", "token_expired", "no_permission",
    "team_access_not_granted", "ekm_access_denied", "not_allowed_token_type", "account_inactive",
})
# Slack's answers that no retry can change: the person, channel or message is gone, or what was sent is
# wrong. The one list: every kind of work gives up on these and only these.
REFUSED_FOR_GOOD = frozenset({
    "channel_not_found", "user_not_found", "users_not_found", "not_in_channel", "is_archived", "invalid_blocks",
    "invalid_blocks_format", "msg_too_long", "no_text", "cannot_dm_bot", "user_disabled",
    "restricted_action", "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
    "invalid_arguments", "thread_not_found", "too_many_attachments", "messages_tab_disabled",
    "message_not_found", "cant_update_message", "edit_window_closed", "no_such_subteam",
    "expired_trigger_id", "invalid_trigger_id", "trigger_exchanged", "not_found", "hash_conflict",
})
# Any other error (internal_error, fatal_error, service_unavailable, request_timeout, ratelimited, a code
# learnbot has never seen) is Slack being unavailable for now: tried again later.


class SlackFailure(Exception):
    """Slack did not do what was asked; the subclass says whether trying again can help."""

    def __init__(self, method: str, message: str, *, code: str = "", status: int = 0,
                 response: dict[str, Any] | None = None):
        super().__init__(f"{method}: {message}")
        self.method = method
        self.code = code
        self.status = status
        self.response = response or {}


class SlackUnavailable(SlackFailure):
    """Slack did not answer, answered 5xx, or asked to wait (429): try again later, never before `retry_after`.

    `maybe_done`: the call may have taken effect although no good answer came (a 5xx, a lost answer),
    so a retry of a post looks for the message first.
    """

    def __init__(self, method: str, message: str, *, retry_after: float | None = None, maybe_done: bool = False,
                 **kw: Any):
        super().__init__(method, message, **kw)
        self.retry_after = retry_after
        self.maybe_done = maybe_done

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code == "ratelimited"


class SlackRefused(SlackFailure):
    """Slack refused this for good (REFUSED_FOR_GOOD): the same call would fail the same way."""


class SlackSetupWrong(SlackFailure):
    """learnbot's own token or scopes are wrong (SETUP_ERRORS): the work waits for an operator's fix."""

    @property
    def problem(self) -> str:
        if self.code == "missing_scope":
            needed = self.response.get("needed") or "?"
            return (f"missing_scope: SLACK_BOT_TOKEN needs the scope {needed}; add it under OAuth & Permissions "
                    "and reinstall the app (`learnbot check --online` compares the token with manifest.yml)")
        return f"{self.code}: Slack refused SLACK_BOT_TOKEN; fix it (`learnbot check --online`)"


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


def translate(method: str, exc: Exception) -> SlackFailure:
    """slack_sdk's exception for a call, as one of the three things it can mean."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or "")
        status = int(exc.response.status_code or 0)
        kw: dict[str, Any] = {"code": code, "status": status, "response": data}
        if code in SETUP_ERRORS:
            return SlackSetupWrong(method, code, **kw)
        if code in REFUSED_FOR_GOOD and status < 500:
            return SlackRefused(method, code, **kw)
        wait = _header(exc.response.headers, "retry-after")
        try:
            retry_after = float(wait) if wait is not None else None
        except ValueError:
            retry_after = None
        what = f"HTTP {status}: {code}" if status >= 500 or not code else code
        return SlackUnavailable(method, what, retry_after=retry_after, maybe_done=status >= 500, **kw)
    # A timeout, a refused or dropped connection: a post may or may not have reached Slack.
    return SlackUnavailable(method, f"Slack unreachable: {type(exc).__name__}: {exc}", maybe_done=True)


@contextmanager
def calling(method: str) -> Iterator[None]:
    try:
        yield
    except (SlackApiError, SlackRequestError, OSError) as exc:
        raise translate(method, exc) from exc


def setup_problem(exc: Exception) -> str | None:
    """What is wrong with learnbot's own setup, if that is what this failure says."""
    return exc.problem if isinstance(exc, SlackSetupWrong) else None


def make_web_client(token: str | None, base_url: str, *, timeout: int = TIMEOUT, pace: Pace | None = None) -> WebClient:
    """The one WebClient of a process for everything but trigger-bound calls, at Slack's pace.

    Only 429s are retried automatically (by ObservedWebClient, through the pace: never before
    Retry-After): Slack answers them before doing anything, so a retry cannot post a message twice.
    A 5xx or a lost answer may hide a message that was posted, so those are left to the caller,
    who knows whether repeating is safe.
    """
    return ObservedWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[], pace=pace)


class _RateLimitWithin(RateLimitErrorRetryHandler):
    """Retry a 429 only when Slack's Retry-After still leaves the trigger id alive."""

    def __init__(self, within: float):
        super().__init__(max_retry_count=1)
        self.within = within

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None
        wait = next((v[0] for k, v in response.headers.items() if k.lower() == "retry-after"), "1")
        try:
            return float(wait) < self.within
        except ValueError:
            return False


def trigger_client(client: WebClient) -> WebClient:
    """A copy of `client` for calls that spend a trigger id: a short timeout, no hopeless retries."""
    return WebClient(token=client.token, base_url=client.base_url, timeout=TRIGGER_TIMEOUT,
                     retry_handlers=[_RateLimitWithin(TRIGGER_LIFE - 1)])


@dataclass(frozen=True)
class Profile:
    user_id: str
    tz: str | None
    display_name: str | None


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


@dataclass(frozen=True)
class Upload:
    """A file to share: its bytes, its name, the title people see and (for an image) its alt text."""

    filename: str
    content: bytes
    title: str
    alt_text: str | None = None


class SlackGateway:
    """Slack's Web API as learnbot uses it. Every method raises only SlackFailure's three kinds
    (SlackUnavailable, SlackRefused, SlackSetupWrong): callers never see slack_sdk's exceptions."""

    def __init__(self, client: WebClient):
        self.client = client
        self.trigger_client = trigger_client(client)

    def posting_delay(self) -> float:
        """Seconds until this process may post a message anywhere (Slack's workspace-wide pace): 0 if now."""
        pace = pace_of(self.client)
        return pace.delay("chat.postMessage") if pace is not None else 0.0

    def whoami(self) -> tuple[dict[str, Any], frozenset[str] | None]:
        """auth.test: who the token is, and its scopes (the x-oauth-scopes header; None if Slack sent none)."""
        with calling("auth.test"):
            resp = self.client.auth_test()
        header = _header(resp.headers, "x-oauth-scopes")
        scopes = frozenset(s.strip() for s in header.split(",") if s.strip()) if header is not None else None
        return dict(resp.data) if isinstance(resp.data, dict) else {}, scopes

    def profile(self, user_id: str) -> Profile | None:
        try:
            with calling("users.info"):
                user: dict[str, Any] = self.client.users_info(user=user_id)["user"]
        except SlackFailure as exc:  # the cached copy will do
            log.warning("users.info %s failed: %s", user_id, exc)
            return None
        p = user.get("profile") or {}
        name = p.get("display_name") or p.get("real_name") or user.get("real_name") or user.get("name")
        return Profile(user_id=user_id, tz=user.get("tz"), display_name=name or None)

    def member(self, user_id: str) -> dict[str, Any] | None:
        """users.info's member as Slack has it (bots and deactivated accounts too); None: no such user."""
        try:
            with calling("users.info"):
                return dict(self.client.users_info(user=user_id)["user"])
        except SlackFailure as exc:
            if exc.code == "user_not_found":
                return None
            raise

    def complete_step(self, token: str, execution_id: str, outputs: dict[str, Any]) -> None:
        """functions.completeSuccess with the workflow's token (the event's bot_access_token), as Bolt's complete()."""
        with calling("functions.completeSuccess"):
            self.client.functions_completeSuccess(token=token, function_execution_id=execution_id, outputs=outputs)

    def fail_step(self, token: str, execution_id: str, error: str) -> None:
        """functions.completeError with the workflow's token, as Bolt's fail()."""
        with calling("functions.completeError"):
            self.client.functions_completeError(token=token, function_execution_id=execution_id, error=error)

    def users_page(self, cursor: str | None, *, limit: int = 200) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the workspace's members (users.list, cursor-paginated) and the next page's cursor
        (None after the last page)."""
        with calling("users.list"):
            resp = self.client.users_list(cursor=cursor or None, limit=limit)
        next_cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        return list(resp.get("members") or []), next_cursor

    def send_dm(self, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None,
                metadata: dict[str, Any] | None = None) -> Posted:
        # Posting to a user id lands in the app's DM with that person.
        with calling("chat.postMessage"):
            resp = self.client.chat_postMessage(channel=user_id, text=text, blocks=blocks, unfurl_links=False,
                                                metadata=metadata)
        return Posted(channel=resp["channel"], ts=resp["ts"])

    def dm_channel(self, user_id: str) -> str:
        with calling("conversations.open"):
            return str(self.client.conversations_open(users=user_id)["channel"]["id"])

    def find_dm_with_metadata(self, user_id: str, event_type: str, match: dict[str, Any],
                              limit: int = 200) -> Posted | None:
        """A message the app posted to this person lately, recognised by its metadata.

        After a 5xx or a lost answer Slack may or may not have posted the message; looking
        for it among the DM's newest messages first makes a retried send deliver exactly once.
        """
        return self.find_with_metadata(user_id, event_type, match, limit=limit)

    def find_file_in_dm(self, user_id: str, filename: str, *, limit: int = 200) -> str | None:
        """The id of a file shared in this person's DM lately, by its name. Files carry no metadata: after a
        5xx or a lost answer of files.completeUploadExternal this is how a retry knows it was shared."""
        channel = self.dm_channel(user_id)
        with calling("conversations.history"):
            resp = self.client.conversations_history(channel=channel, limit=limit)
        for message in resp.get("messages") or []:
            for f in message.get("files") or []:
                if f.get("name") == filename:
                    return str(f.get("id"))
        return None

    def post(self, recipient: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
             metadata: dict[str, Any] | None = None, thread_ts: str | None = None) -> Posted:
        """A message to a person (their DM with the app, by user id) or a channel, or a reply in a thread."""
        with calling("chat.postMessage"):
            resp = self.client.chat_postMessage(channel=recipient, text=text, blocks=blocks, metadata=metadata,
                                                thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)
        return Posted(channel=resp["channel"], ts=resp["ts"])

    def find_with_metadata(self, recipient: str, event_type: str, match: dict[str, Any], *,
                           thread_ts: str | None = None, limit: int = 200) -> Posted | None:
        """A message the app posted to this person, channel or thread lately, recognised by its metadata."""
        channel = self.dm_channel(recipient) if recipient[:1] in ("U", "W") else recipient
        if thread_ts:
            with calling("conversations.replies"):
                resp = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=limit,
                                                         include_all_metadata=True)
        else:
            with calling("conversations.history"):
                resp = self.client.conversations_history(channel=channel, limit=limit, include_all_metadata=True)
        for message in resp.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == event_type and all(payload.get(k) == v for k, v in match.items()):
                return Posted(channel=channel, ts=message["ts"])
        return None

    def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        with calling("chat.update"):
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def post_ephemeral(self, channel: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        with calling("chat.postEphemeral"):
            self.client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        with calling("views.publish"):
            self.client.views_publish(user_id=user_id, view=view)

    def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> Posted:
        with calling("chat.postMessage"):
            resp = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False,
                                                unfurl_media=False)
        return Posted(channel=resp["channel"], ts=resp["ts"])

    def upload_files(self, channel: str, files: list[Upload], *, comment: str | None = None,
                     thread_ts: str | None = None) -> list[str]:
        """Share files in a channel or DM (files_upload_v2: files.getUploadURLExternal, a POST of each file's
        bytes, files.completeUploadExternal; needs files:write); the ids of the files shared."""
        uploads = [{"filename": f.filename, "content": f.content, "title": f.title,
                    **({"alt_txt": f.alt_text[:1000]} if f.alt_text else {})} for f in files]
        with calling("files_upload_v2"):
            resp = self.client.files_upload_v2(file_uploads=uploads, channel=channel, initial_comment=comment,
                                               thread_ts=thread_ts)
        return [str(f.get("id")) for f in resp.get("files") or []]

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        with calling("views.open"):
            return dict(self.trigger_client.views_open(trigger_id=trigger_id, view=view)["view"])

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        """Slack user ids in a user group (usergroups.users.list; needs usergroups:read)."""
        with calling("usergroups.users.list"):
            return list(self.client.usergroups_users_list(usergroup=usergroup_id)["users"] or [])

    def update_view(self, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> None:
        with calling("views.update"):
            self.client.views_update(view_id=view_id, view=view, hash=view_hash)

    def permalink(self, channel: str, ts: str) -> str | None:
        """chat.getPermalink; None when Slack will not say (a channel the bot cannot see, a deleted message)."""
        try:
            with calling("chat.getPermalink"):
                return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackFailure as exc:
            log.info("chat.getPermalink %s/%s: %s", channel, ts, exc)
            return None

    def respond(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer through an interaction's response_url: it reaches the person where they
        clicked, also in a channel the bot is not a member of (valid 30 minutes, 5 uses)."""
        with calling("response_url"):
            resp = WebhookClient(response_url, timeout=10).send(text=text, blocks=blocks, response_type="ephemeral",
                                                               replace_original=False)
        if resp.status_code != 200:
            raise SlackUnavailable("response_url", f"answered {resp.status_code}: {resp.body}",
                                   status=resp.status_code)
