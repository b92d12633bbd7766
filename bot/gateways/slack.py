"""Slack's Web API, through one WebClient with slack_sdk's retry handlers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.gateways.observed import ObservedWebClient

log = logging.getLogger(__name__)


def make_web_client(token: str | None, base_url: str, *, timeout: int = 10) -> WebClient:
    """The one WebClient of a process; Bolt copies its retry handlers into every request's client.

    Only 429s are retried automatically: Slack answers them before doing anything, so a retry
    cannot post a message twice. A 5xx or a lost answer may hide a message that was posted,
    so those are left to the caller, who knows whether repeating is safe.
    """
    return ObservedWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )


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
        return dict(self.client.views_open(trigger_id=trigger_id, view=view)["view"])

    def update_view(self, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> None:
        self.client.views_update(view_id=view_id, view=view, hash=view_hash)
