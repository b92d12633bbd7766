"""Slack's Web API, through one WebClient with slack_sdk's retry handlers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryState
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.gateways.observed import ObservedWebClient
from bot.gateways.pace import Pace

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
    "team_access_not_granted", "ekm_access_denied", "not_allowed_token_type",
})


def setup_problem(exc: SlackApiError) -> str | None:
    """For an answer in SETUP_ERRORS, what is wrong and how to fix it (naming the scope Slack says is needed)."""
    code = str(exc.response.get("error") or "")
    if code not in SETUP_ERRORS:
        return None
    if code == "missing_scope":
        needed = exc.response.get("needed") or "?"
        return (f"missing_scope: SLACK_BOT_TOKEN needs the scope {needed}; add it under OAuth & Permissions and "
                "reinstall the app (`learnbot check --online` compares the token with manifest.yml)")
    return f"{code}: Slack refused SLACK_BOT_TOKEN; fix it (`learnbot check --online`)"


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


class SlackGateway:
    def __init__(self, client: WebClient):
        self.client = client
        self.trigger_client = trigger_client(client)

    def whoami(self) -> tuple[dict[str, Any], frozenset[str] | None]:
        """auth.test: who the token is, and its scopes (the x-oauth-scopes header; None if Slack sent none)."""
        resp = self.client.auth_test()
        header = next((v for k, v in (resp.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
        if isinstance(header, list):
            header = ",".join(header)
        scopes = frozenset(s.strip() for s in header.split(",") if s.strip()) if header is not None else None
        return dict(resp.data) if isinstance(resp.data, dict) else {}, scopes

    def profile(self, user_id: str) -> Profile | None:
        try:
            user: dict[str, Any] = self.client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", user_id, exc.response.get("error"))
            return None
        except (SlackRequestError, OSError) as exc:  # Slack unreachable: the cached copy will do
            log.warning("users.info %s failed: %s", user_id, exc)
            return None
        p = user.get("profile") or {}
        name = p.get("display_name") or p.get("real_name") or user.get("real_name") or user.get("name")
        return Profile(user_id=user_id, tz=user.get("tz"), display_name=name or None)

    def users_page(self, cursor: str | None, *, limit: int = 200) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the workspace's members (users.list, cursor-paginated) and the next page's cursor
        (None after the last page)."""
        resp = self.client.users_list(cursor=cursor or None, limit=limit)
        next_cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        return list(resp.get("members") or []), next_cursor

    def send_dm(self, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None,
                metadata: dict[str, Any] | None = None) -> Posted:
        # Posting to a user id lands in the app's DM with that person.
        resp = self.client.chat_postMessage(channel=user_id, text=text, blocks=blocks, unfurl_links=False,
                                            metadata=metadata)
        return Posted(channel=resp["channel"], ts=resp["ts"])

    def dm_channel(self, user_id: str) -> str:
        return str(self.client.conversations_open(users=user_id)["channel"]["id"])

    def find_dm_with_metadata(self, user_id: str, event_type: str, match: dict[str, Any],
                              limit: int = 200) -> Posted | None:
        """A message the app posted to this person lately, recognised by its metadata.

        After a 5xx or a lost answer Slack may or may not have posted the message; looking
        for it among the DM's newest messages first makes a retried send deliver exactly once.
        """
        channel = self.dm_channel(user_id)
        resp = self.client.conversations_history(channel=channel, limit=limit, include_all_metadata=True)
        for message in resp.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == event_type and all(payload.get(k) == v for k, v in match.items()):
                return Posted(channel=channel, ts=message["ts"])
        return None

    def post(self, recipient: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
             metadata: dict[str, Any] | None = None, thread_ts: str | None = None) -> Posted:
        """A message to a person (their DM with the app, by user id) or a channel, or a reply in a thread."""
        resp = self.client.chat_postMessage(channel=recipient, text=text, blocks=blocks, metadata=metadata,
                                            thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)
        return Posted(channel=resp["channel"], ts=resp["ts"])

    def find_with_metadata(self, recipient: str, event_type: str, match: dict[str, Any], *,
                           thread_ts: str | None = None, limit: int = 200) -> Posted | None:
        """A message the app posted to this person, channel or thread lately, recognised by its metadata."""
        channel = self.dm_channel(recipient) if recipient[:1] in ("U", "W") else recipient
        if thread_ts:
            resp = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=limit,
                                                     include_all_metadata=True)
        else:
            resp = self.client.conversations_history(channel=channel, limit=limit, include_all_metadata=True)
        for message in resp.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == event_type and all(payload.get(k) == v for k, v in match.items()):
                return Posted(channel=channel, ts=message["ts"])
        return None

    def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def post_ephemeral(self, channel: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self.client.views_publish(user_id=user_id, view=view)

    def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> Posted:
        resp = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False,
                                            unfurl_media=False)
        return Posted(channel=resp["channel"], ts=resp["ts"])

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        return dict(self.trigger_client.views_open(trigger_id=trigger_id, view=view)["view"])

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        """Slack user ids in a user group (usergroups.users.list; needs usergroups:read)."""
        return list(self.client.usergroups_users_list(usergroup=usergroup_id)["users"] or [])

    def update_view(self, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> None:
        self.client.views_update(view_id=view_id, view=view, hash=view_hash)

    def permalink(self, channel: str, ts: str) -> str | None:
        """chat.getPermalink; None when Slack will not say (a channel the bot cannot see, a deleted message)."""
        try:
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackApiError as exc:
            log.info("chat.getPermalink %s/%s: %s", channel, ts, exc.response.get("error"))
            return None
        except (SlackRequestError, OSError) as exc:
            log.warning("chat.getPermalink %s/%s failed: %s", channel, ts, exc)
            return None

    def respond(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer through an interaction's response_url: it reaches the person where they
        clicked, also in a channel the bot is not a member of (valid 30 minutes, 5 uses)."""
        resp = WebhookClient(response_url, timeout=10).send(text=text, blocks=blocks, response_type="ephemeral",
                                                           replace_original=False)
        if resp.status_code != 200:
            raise SlackRequestError(f"response_url answered {resp.status_code}: {resp.body}")
