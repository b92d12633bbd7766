"""Owns FakeSlack: a loopback HTTP stand-in for the Slack Web API methods learnbot calls."""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import itertools
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from ._block_kit import MESSAGE_BLOCK_LIMIT, MESSAGE_TEXT_LIMIT, block_errors, view_errors
from ._http import Call, FakeHTTPServer, Fault, Matcher, Response
from .slack_functions import FUNCTION_METHODS, FunctionsMixin
from .socket_mode import FakeSocketMode

# Form fields Slack documents as JSON-encoded strings.
_JSON_FIELDS = ("blocks", "view", "attachments", "metadata")

VIEW_TITLE_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3000
CALLBACK_ID_LIMIT = 255

Handler = Callable[[dict[str, Any]], dict[str, Any]]
# Where files.getUploadURLExternal sends a file's bytes (Slack's is https://files.slack.com/upload/v1/…).
UPLOAD_PATH = "/upload/v1/"
ALT_TEXT_LIMIT = 1000


class SlackError(Exception):
    """Raised inside a method handler to answer {"ok": false, "error": ...}."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


# What manifest.yml asks for: a token installed from it has these.
# An app installed from the repository's manifest has exactly the bot scopes it asks for.
DEFAULT_SCOPES = tuple(yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
                       ["oauth_config"]["scopes"]["bot"])

# The bot scope each Web API method needs, as Slack's method reference lists it ("Required scopes",
# bot tokens). The conversations.* methods need the one of the conversation's type: see _needed_scope.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "users.info": "users:read",
    "users.list": "users:read",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "usergroups.users.list": "usergroups:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "apps.connections.open": None,  # the app-level token's connections:write, not a bot scope
    "functions.completeSuccess": None,  # the workflow's own token (the event's bot_access_token)
    "functions.completeError": None,
}
# conversations.history / .replies and conversations.open by the conversation's type.
HISTORY_SCOPES = {"public": "channels:history", "private": "groups:history", "im": "im:history",
                  "mpim": "mpim:history"}
OPEN_SCOPES = {"im": "im:write", "mpim": "mpim:write"}

# Slack's rate limits, "per API method per app per workspace" (docs.slack.dev/apis/web-api/rate-limits,
# and each method's reference, "Facts"): (calls, window in seconds, counted per channel). Tier 1 is
# 1+ a minute, Tier 2 20+, Tier 3 50+, Tier 4 100+; the stand-in allows exactly the documented floor.
# chat.postMessage is special: about 1 message a second to a channel, short bursts allowed (here 5
# in any 5 s), under a workspace-wide "several hundred messages per minute" (here 600).
RateRule = tuple[int, float, bool]
TIER_1: tuple[RateRule, ...] = ((1, 60.0, False),)
TIER_2: tuple[RateRule, ...] = ((20, 60.0, False),)
TIER_3: tuple[RateRule, ...] = ((50, 60.0, False),)
TIER_4: tuple[RateRule, ...] = ((100, 60.0, False),)
RATE_LIMITS: dict[str, tuple[RateRule, ...]] = {
    "auth.test": TIER_4,  # special; Tier 4 numbers
    "users.info": TIER_4,
    "users.list": TIER_2,
    "conversations.open": TIER_3,
    "conversations.history": TIER_3,  # internal apps (the 2025 limits are for apps sold outside the Marketplace)
    "conversations.replies": TIER_3,
    "chat.postMessage": ((600, 60.0, False), (5, 5.0, True)),
    "chat.update": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,  # special; Tier 4 numbers
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "usergroups.users.list": TIER_2,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "apps.connections.open": TIER_1,
    "functions.completeSuccess": TIER_3,
    "functions.completeError": TIER_3,
}


class _FilesMixin:
    """files.getUploadURLExternal, the upload URL and files.completeUploadExternal, as Slack documents them
    (docs.slack.dev/reference/methods/files.getUploadURLExternal, …/files.completeUploadExternal)."""

    def _files_get_upload_url_external(self: Any, args: dict[str, Any]) -> dict[str, Any]:
        _require(args, "filename", "length")
        try:
            length = int(args["length"])
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", ["[ERROR] length must be an integer"]) from None
        if length <= 0:
            raise SlackError("missing_argument")  # Slack's answer to a length of 0
        if len(str(args.get("alt_txt") or "")) > ALT_TEXT_LIMIT:
            raise SlackError("alt_txt_too_large")
        file_id = f"F0FILE{next(self._file_counter):05d}"
        token = secrets.token_urlsafe(12)
        self._upload_urls[token] = file_id
        self.files[file_id] = {
            "id": file_id, "name": str(args["filename"]), "title": None, "length": length,
            "alt_txt": args.get("alt_txt") or None, "snippet_type": args.get("snippet_type") or None,
            "content": None, "channels": [], "thread_ts": None, "initial_comment": None,
        }
        return {"upload_url": f"{self.base_url}{UPLOAD_PATH}{token}", "file_id": file_id}

    def _upload(self: Any, call: Call) -> Response:
        """A POST of the file's bytes (raw, as slack_sdk sends them) to the URL handed out; used once."""
        file_id = self._upload_urls.pop(call.path[len(UPLOAD_PATH):], None)
        if call.method != "POST" or file_id is None:
            return Response(404, "Not Found")
        data = call.raw_body
        if not data:
            return Response(400, "empty body")
        self.files[file_id]["content"] = data
        return Response(200, f"OK - {len(data)}")

    def _files_complete_upload_external(self: Any, args: dict[str, Any]) -> dict[str, Any]:
        _require(args, "files")
        files = args["files"]
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise SlackError("invalid_arguments", ["[ERROR] files must be a JSON array"]) from None
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            raise SlackError("invalid_arguments", ["[ERROR] files must be an array of {id, title}"])
        stored = []
        for f in files:
            known = self.files.get(str(f["id"]))
            if known is None or known["content"] is None or known["channels"]:
                raise SlackError("file_not_found")  # never handed out, its bytes never arrived, or completed
            stored.append((known, f))
        targets = [str(args["channel_id"])] if args.get("channel_id") else []
        targets += [c for c in str(args.get("channels") or "").split(",") if c.strip()]
        if args.get("thread_ts") and len(targets) != 1:
            raise SlackError("invalid_arguments", ["[ERROR] thread_ts needs exactly one channel"])
        channels = [self._resolve_channel(c.strip()) for c in targets]
        for channel in channels:
            if args.get("thread_ts") and (channel, str(args["thread_ts"])) not in self._messages:
                raise SlackError("thread_not_found")
        shared = []
        for known, f in stored:
            known.update(title=f.get("title") or known["name"], channels=channels, private=not channels,
                         thread_ts=args.get("thread_ts") or None, initial_comment=args.get("initial_comment"))
            shared.append({"id": known["id"], "title": known["title"]})
        for channel in channels:  # one message in each conversation, carrying the files
            ts = self._next_ts()
            message = self._message({"text": args.get("initial_comment") or "",
                                     "thread_ts": args.get("thread_ts")}, ts)
            message.update(upload=True, files=[{"id": k["id"], "name": k["name"], "title": k["title"]}
                                               for k, _ in stored])
            self._messages[(channel, ts)] = message
        return {"files": shared}


class FakeSlack(FunctionsMixin, _FilesMixin, FakeHTTPServer):
    """Slack Web API stand-in; point `slack_sdk.WebClient(base_url=fake.url)` at it."""

    def __init__(
        self,
        *,
        token: str | None = None,
        team_id: str = "T0LEARN01",
        team_name: str = "Learnbot Test",
        team_domain: str = "learnbot-test",
        bot_user_id: str = "U0LBOT001",
        bot_id: str = "B0LBOT001",
        app_id: str = "A0LBOT001",
        bot_name: str = "learnbot",
        rate_limited: bool = True,
        rate_scale: float = 1.0,
    ) -> None:
        super().__init__()
        # Past a method's limit (RATE_LIMITS, each count times rate_scale) Slack answers HTTP 429 with
        # Retry-After; a test that must burst past Slack's pace says so with rate_scale or set_rate_limit.
        self.rate_limited = rate_limited
        self.rate_scale = rate_scale
        self.token = token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "usergroups.users.list": self._usergroups_users_list,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "functions.completeSuccess": self._functions_complete_success,
            "functions.completeError": self._functions_complete_error,
        }
        self.socket_mode: FakeSocketMode | None = None  # Slack's wss endpoint, made on the first connection
        self._reset_state()

    def _reset_state(self) -> None:
        # The bot token's scopes, sent as Slack does in every authed answer's x-oauth-scopes header; a
        # method needing one the token lacks is refused with missing_scope (METHOD_SCOPES).
        self.scopes: list[str] = list(DEFAULT_SCOPES)
        self.users: dict[str, dict[str, Any]] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}
        self._open_dms: set[str] = set()
        self._mpims: dict[frozenset[str], str] = {}
        # Public and private channels (C…/G…) by id: their name and whether the bot is a member.
        self._channels: dict[str, dict[str, Any]] = {}
        self._last_ts = 0
        self._view_counter = itertools.count(1)
        self._usergroups: dict[str, list[str]] = {}
        # Files by id (files.getUploadURLExternal), their bytes once POSTed to the upload URL, and where they
        # were shared (files.completeUploadExternal); upload URL token -> file id.
        self.files: dict[str, dict[str, Any]] = {}
        self._upload_urls: dict[str, str] = {}
        self._file_counter = itertools.count(1)
        self.executions = {}  # workflow steps' function executions (slack_functions.py)
        self.rate_limits: dict[str, tuple[RateRule, ...]] = dict(RATE_LIMITS)  # set_rate_limit changes one
        # When calls were carried out, per (method, rule, channel): the sliding windows of RATE_LIMITS.
        self._rate_log: dict[tuple[str, int, str | None], deque[float]] = {}

    # ----------------------------------------------------------------- public helpers

    def set_rate_limit(self, api_method: str, *rules: RateRule) -> None:
        """Replace one method's limits: (calls, window seconds, per channel) each; none: unlimited."""
        with self._state_lock:
            self.rate_limits[api_method] = tuple(rules)

    @property
    def url(self) -> str:
        """Base URL for WebClient: http://127.0.0.1:PORT/api/ (trailing slash required)."""
        return f"{self.base_url}/api/"

    def add_user(
        self,
        user_id: str,
        *,
        tz: str = "Europe/London",
        tz_offset: int | None = None,
        name: str | None = None,
        is_bot: bool = False,
        real_name: str | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Register a workspace member; tz_offset (seconds east of UTC) defaults to tz's offset now."""
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        if tz_offset is None:
            tz_offset = int(offset.total_seconds()) if offset is not None else 0
        name = name or user_id.lower()
        real_name = real_name or name.replace(".", " ").title()
        profile: dict[str, Any] = {
            "avatar_hash": "g" + user_id[-8:].lower(),
            "status_text": "",
            "status_emoji": "",
            "real_name": real_name,
            "display_name": name,
            "real_name_normalized": real_name,
            "display_name_normalized": name,
            "image_24": f"https://avatars.example.invalid/{user_id}_24.png",
            "image_48": f"https://avatars.example.invalid/{user_id}_48.png",
            "team": self.team_id,
        }
        if not is_bot:
            profile["email"] = email or f"{name}@example.com"
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz,
            "tz_label": now.tzname() or tz,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }
        with self._state_lock:
            self.users[user_id] = user
        return copy.deepcopy(user)

    def add_usergroup(self, usergroup_id: str, members: list[str]) -> None:
        """A user group (S…) and its members, as usergroups.users.list returns them."""
        with self._state_lock:
            self._usergroups[usergroup_id] = list(members)

    def post_as_user(self, channel: str, user_id: str, text: str, **extra: Any) -> dict[str, Any]:
        """A message a person wrote in a channel (what a message shortcut is used on); returns it."""
        ts = self._next_ts()
        message = {"type": "message", "user": user_id, "text": text, "ts": ts, "team": self.team_id, **extra}
        with self._state_lock:
            self._messages[(channel, ts)] = message
        return copy.deepcopy(message)

    def response_url(self) -> str:
        """A response_url as Slack puts in an interaction payload (valid for 5 uses)."""
        return f"{self.base_url}/actions/{self.team_id}/{secrets.token_hex(6)}/{secrets.token_hex(12)}"

    def responses(self) -> list[Call]:
        """What was posted to response_urls, oldest first."""
        return [c for c in self.calls if c.path.startswith("/actions/") and c.status == 200]

    def add_channel(self, channel_id: str, *, name: str | None = None, bot_member: bool = True,
                    private: bool = False) -> None:
        """A channel that exists in the workspace; learnbot may post there only while it is a member.

        A private channel (or a G… id, as older private channels have) needs groups:history to be read.
        """
        with self._state_lock:
            self._channels[channel_id] = {"name": name or channel_id.lower(), "bot_member": bot_member,
                                          "private": private}

    def invite_bot(self, channel_id: str, *, private: bool = False) -> None:
        """Put the bot in a channel (/invite @learnbot), creating the channel if the test had not."""
        with self._state_lock:
            channel = self._channels.setdefault(channel_id, {"name": channel_id.lower(), "private": private})
            channel["bot_member"] = True

    def remove_bot(self, channel_id: str) -> None:
        """Take the bot out of a channel: posts there now fail with not_in_channel."""
        with self._state_lock:
            self._channels[channel_id]["bot_member"] = False

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The stable D… channel id of the bot's DM with user_id."""
        return "D" + user_id[1:]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Stored messages (after any chat.update), oldest first; channel may be a user id."""
        with self._state_lock:
            wanted = self.dm_channel(channel) if channel and channel[:1] in ("U", "W") else channel
            return [
                copy.deepcopy({**m, "channel": ch})
                for (ch, _ts), m in sorted(self._messages.items(), key=lambda kv: kv[0][1])
                if wanted is None or ch == wanted
            ]

    def views(self) -> dict[str, dict[str, Any]]:
        """Current state of every view by id (open, pushed, updated and published)."""
        with self._state_lock:
            return copy.deepcopy(self._views)

    def uploaded_files(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Files shared with files.completeUploadExternal (in `channel`, a user id meaning their DM), oldest
        first, each with its `content` (the bytes POSTed), `name`, `title`, `alt_txt` and `channels`."""
        if channel is not None and channel[:1] in ("U", "W"):
            channel = self.dm_channel(channel)
        with self._state_lock:
            shared = [f for f in self.files.values() if f["channels"] or f.get("private")]
            return [copy.deepcopy(f) for f in shared if channel is None or channel in f["channels"]]

    def calls_to(self, api_method: str) -> list[Call]:
        """Recorded calls of one API method, e.g. "chat.postMessage"."""
        return [c for c in self.calls if c.api_method == api_method]

    def accepted(self, api_method: str) -> list[Call]:
        """Calls of one method Slack carried out (ok=true): it refuses with HTTP 200 too, so status is not enough."""
        return [c for c in self.calls_to(api_method) if isinstance(c.response, dict) and c.response.get("ok") is True]

    def messages_to(self, user_or_channel: str) -> list[Call]:
        """chat.postMessage calls addressed to a user id, its DM channel, or a channel id."""
        targets = {user_or_channel}
        if user_or_channel[:1] in ("U", "W"):
            targets.add(self.dm_channel(user_or_channel))
        elif user_or_channel[:1] == "D":
            targets.update({"U" + user_or_channel[1:], "W" + user_or_channel[1:]})
        return [c for c in self.calls_to("chat.postMessage") if _args(c).get("channel") in targets]

    def views_opened(self) -> list[Call]:
        """Recorded views.open calls (the submitted view is call.body["view"])."""
        return self.calls_to("views.open")

    # ----------------------------------------------------------------- HTTP hooks

    def _matcher(self, match: Any) -> Matcher:
        if isinstance(match, str):
            return lambda call: call.api_method == match
        return super()._matcher(match)

    def _enrich(self, call: Call) -> None:
        if call.path.startswith("/api/"):
            call.api_method = call.path[len("/api/") :]
        if isinstance(call.body, dict):
            for key in _JSON_FIELDS:
                value = call.body.get(key)
                # Undecodable text is left as is; the method then answers invalid_blocks / invalid_arguments.
                if isinstance(value, str):
                    with contextlib.suppress(ValueError):
                        call.body[key] = json.loads(value)

    def _fault_response(self, fault: Fault, call: Call) -> Response:
        status = fault.status or 200
        if fault.body is not None:
            return Response(status, fault.body)
        error = "ratelimited" if status == 429 else "internal_error"
        return Response(status, {"ok": False, "error": error})

    def _bad_body(self, call: Call, error: str) -> Response:
        if call.path.startswith(UPLOAD_PATH):  # a file's bytes are not a form: taken from raw_body
            return self._upload(call)
        return Response(200, {"ok": False, "error": "invalid_json"})

    def _handle(self, call: Call) -> Response:
        if call.path.startswith("/actions/") and call.method == "POST":
            return self._respond(call)
        if call.path.startswith(UPLOAD_PATH):
            return self._upload(call)
        if call.api_method is None:
            return Response(404, "Not Found")
        method = self._methods.get(call.api_method)
        if method is None:
            return Response(200, {"ok": False, "error": "unknown_method"})
        args = _args(call)
        auth_error = self._auth_error(call, args)
        if auth_error:
            return Response(200, {"ok": False, "error": auth_error})
        wait = self._rate_limited(call.api_method, args)
        if wait is not None:
            # What Slack answers past a limit; the call is not carried out.
            return Response(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(wait)})
        scopes = {"x-oauth-scopes": ",".join(self.scopes)}
        needed = self._needed_scope(call.api_method, args)
        if needed is not None and needed not in self.scopes:
            # What Slack answers a token installed without the scope (HTTP 200, like every refusal).
            return Response(200, {"ok": False, "error": "missing_scope", "needed": needed,
                                  "provided": ",".join(self.scopes)}, headers=scopes)
        try:
            return Response(200, {"ok": True, **method(args)}, headers=scopes)
        except SlackError as exc:
            body: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.messages:
                body["response_metadata"] = {"messages": exc.messages}
            return Response(200, body, headers=scopes)

    def _rate_limited(self, api_method: str, args: dict[str, Any]) -> int | None:
        """Seconds to wait (Retry-After) when this call is past one of the method's limits; else count it."""
        if not self.rate_limited:
            return None
        now = time.monotonic()
        channel = str(args.get("channel") or "")
        if channel[:1] in ("U", "W"):  # a user id posts to their DM: one channel either way
            channel = self.dm_channel(channel)
        windows = []
        for i, (calls, window, per_channel) in enumerate(self.rate_limits.get(api_method, TIER_2)):
            log = self._rate_log.setdefault((api_method, i, channel if per_channel else None), deque())
            while log and log[0] <= now - window:
                log.popleft()
            allowed = max(int(calls * self.rate_scale), 1)
            if len(log) >= allowed:
                return max(math.ceil(log[len(log) - allowed] + window - now), 1)
            windows.append(log)
        for log in windows:
            log.append(now)
        return None

    def _respond(self, call: Call) -> Response:
        """A post to a response_url: JSON with text or blocks; more than 5 uses of one URL is refused."""
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return Response(400, "invalid_payload")
        if not (body.get("text") or body.get("blocks")):
            return Response(400, "no_text")
        if block_errors(body.get("blocks") or [], limit=MESSAGE_BLOCK_LIMIT, pointer="/blocks"):
            return Response(400, "invalid_blocks")
        used = sum(1 for c in self.calls if c.path == call.path and c.status == 200)
        if used >= 5:
            return Response(404, "used_url")
        return Response(200, {"ok": True})

    def conversation_type(self, channel: str) -> str:
        """public, private, im or mpim: which *:history scope reading it takes."""
        with self._state_lock:
            if channel[:1] in ("U", "W", "D"):
                return "im"
            if channel in self._mpims.values():
                return "mpim"
            known = self._channels.get(channel)
            if channel[:1] == "G" or (known is not None and known.get("private")):
                return "private"
            return "public"

    def _needed_scope(self, api_method: str, args: dict[str, Any]) -> str | None:
        if api_method in ("conversations.history", "conversations.replies"):
            return HISTORY_SCOPES[self.conversation_type(str(args.get("channel") or ""))]
        if api_method == "conversations.open":
            if args.get("channel"):
                return OPEN_SCOPES.get(self.conversation_type(str(args["channel"])), "im:write")
            users = [u for u in str(args.get("users") or "").split(",") if u.strip()]
            return OPEN_SCOPES["mpim" if len(users) > 1 else "im"]
        return METHOD_SCOPES.get(api_method)

    def _auth_error(self, call: Call, args: dict[str, Any]) -> str | None:
        header = call.header("Authorization") or ""
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else args.get("token")
        if not token:
            return "not_authed"
        # Socket Mode takes the app-level token, and only it; every other method refuses it.
        if (call.api_method == "apps.connections.open") != str(token).startswith("xapp-"):
            return "not_allowed_token_type"
        if call.api_method == "apps.connections.open":
            return None
        if call.api_method in FUNCTION_METHODS:
            return self.function_auth_error(str(token), args)
        if self.token is not None:
            return None if token == self.token else "invalid_auth"
        return None if str(token).startswith(("xoxb-", "xoxp-")) else "invalid_auth"

    # ----------------------------------------------------------------- id helpers

    def _next_ts(self) -> str:
        # Like Slack: the posting time in epoch seconds, unique within the workspace.
        with self._state_lock:
            micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
            self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _resolve_channel(self, channel: str, *, member: bool = True) -> str:
        """The conversation id to use; raises Slack's error if it does not exist or the bot is not in it."""
        # Slack accepts a user id as chat.postMessage's channel and answers with the DM's id.
        if channel[:1] in ("U", "W"):
            if channel not in self.users:
                raise SlackError("channel_not_found")
            return self.dm_channel(channel)
        if channel[:1] == "D":
            if not any(self.dm_channel(u) == channel for u in self.users):
                raise SlackError("channel_not_found")
            return channel
        if channel in self._mpims.values():
            return channel  # a group DM the bot opened with conversations.open
        known = self._channels.get(channel)
        if known is None:
            raise SlackError("channel_not_found")
        if member and not known["bot_member"]:
            raise SlackError("not_in_channel")
        return channel

    def _message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "text": args.get("text") or "",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if args.get(key) not in (None, ""):
                message[key] = args[key]
        return message

    # ----------------------------------------------------------------- validation

    def _message_errors(self, args: dict[str, Any]) -> None:
        text = args.get("text")
        if isinstance(text, str) and len(text) > MESSAGE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        blocks = args.get("blocks")
        if blocks in (None, "", []):
            return
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        messages = block_errors(blocks, limit=MESSAGE_BLOCK_LIMIT, pointer="/blocks")
        if messages:
            raise SlackError("invalid_blocks", messages)

    def _view_errors(self, view: Any, *, home: bool = False) -> None:
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", ["[ERROR] failed to match all allowed schemas [json-pointer:/view]"])
        messages: list[str] = []
        view_type = view.get("type")
        if view_type not in ("modal", "home"):
            messages.append(
                "[ERROR] missing required field: type [json-pointer:/view]"
                if not view_type
                else f"[ERROR] invalid view type: {view_type} [json-pointer:/view/type]"
            )
        elif home and view_type != "home":
            messages.append("[ERROR] views.publish only accepts home views [json-pointer:/view/type]")
        elif not home and view_type != "modal":
            messages.append("[ERROR] only modal views can be opened [json-pointer:/view/type]")
        if view_type == "modal":
            title = view.get("title")
            if not isinstance(title, dict) or not title.get("text"):
                messages.append("[ERROR] missing required field: title [json-pointer:/view]")
            for key in ("title", "submit", "close"):
                part = view.get(key)
                if isinstance(part, dict) and len(str(part.get("text", ""))) > VIEW_TITLE_LIMIT:
                    messages.append(
                        f"[ERROR] must be less than {VIEW_TITLE_LIMIT + 1} characters [json-pointer:/view/{key}/text]"
                    )
        if not isinstance(view.get("blocks"), list):
            messages.append("[ERROR] missing required field: blocks [json-pointer:/view]")
        if len(str(view.get("private_metadata") or "")) > PRIVATE_METADATA_LIMIT:
            messages.append(
                f"[ERROR] must be less than {PRIVATE_METADATA_LIMIT + 1} characters "
                "[json-pointer:/view/private_metadata]"
            )
        if len(str(view.get("callback_id") or "")) > CALLBACK_ID_LIMIT:
            messages.append(
                f"[ERROR] must be less than {CALLBACK_ID_LIMIT + 1} characters [json-pointer:/view/callback_id]"
            )
        if not messages:
            # The rest, blocks included, as slack_sdk's View and Block models see it.
            messages.extend(view_errors(view))
        if messages:
            raise SlackError("invalid_arguments", messages)

    def _store_view(
        self, view: dict[str, Any], *, view_id: str | None = None, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._view_counter):010d}"
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous.get("previous_view_id") if previous else None,
            "root_view_id": previous.get("root_view_id", view_id) if previous else view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", previous.get("external_id", "") if previous else ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = stored
        return copy.deepcopy(stored)

    def _check_external_id(self, view: dict[str, Any], *, own_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if external_id and any(v["external_id"] == external_id and v["id"] != own_id for v in self._views.values()):
            raise SlackError("duplicate_external_id")

    # ----------------------------------------------------------------- methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every member, bots and deactivated people too, a page at a time (cursor-based, as Slack pages)."""
        members = sorted(self.users)
        start = 0
        if args.get("cursor"):
            try:
                after = base64.b64decode(str(args["cursor"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
            if not after.startswith("user:") or after[5:] not in members:
                raise SlackError("invalid_cursor")
            start = members.index(after[5:])
        limit = int(args.get("limit") or 0) or len(members)  # no limit: Slack tries the whole set
        page = members[start:start + min(limit, 1000)]
        rest = members[start + len(page):]
        next_cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
        return {"members": [copy.deepcopy(self.users[u]) for u in page], "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {"channel": {"id": self._resolve_channel(str(args["channel"]))}, "no_op": True, "already_open": True}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        for user in users:
            if user not in self.users:
                raise SlackError("user_not_found")
        if len(users) == 1:
            channel_id = self.dm_channel(users[0])
            extra = {"no_op": True, "already_open": True} if channel_id in self._open_dms else {}
            self._open_dms.add(channel_id)
            return {"channel": {"id": channel_id}, **extra}
        key = frozenset(users)
        channel_id = self._mpims.setdefault(key, f"G{len(self._mpims) + 1:08d}")
        return {"channel": {"id": channel_id}}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, like Slack; metadata only with include_all_metadata; oldest/latest exclusive."""
        channel = str(args.get("channel") or "")
        if not channel:
            raise SlackError("channel_not_found")
        channel = self._resolve_channel(channel)
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        limit = min(int(args.get("limit") or 100), 999)
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        # Like Slack: thread replies are not in the channel's history (conversations.replies has them).
        found = sorted(
            (m for (ch, ts), m in self._messages.items()
             if ch == channel and oldest < float(ts) < latest and m.get("thread_ts") in (None, ts)),
            key=lambda m: float(m["ts"]), reverse=True,
        )
        page = []
        for message in found[:limit]:
            out = copy.deepcopy(message)
            if not with_metadata:
                out.pop("metadata", None)
            page.append(out)
        return {"messages": page, "has_more": len(found) > limit, "pin_count": 0,
                "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread, parent first then replies oldest first, like Slack; metadata with include_all_metadata."""
        channel = str(args.get("channel") or "")
        if not channel:
            raise SlackError("channel_not_found")
        channel = self._resolve_channel(channel)
        parent_ts = str(args.get("ts") or "")
        if (channel, parent_ts) not in self._messages:
            raise SlackError("thread_not_found")
        limit = min(int(args.get("limit") or 1000), 1000)
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        thread = sorted(
            (m for (ch, ts), m in self._messages.items()
             if ch == channel and (ts == parent_ts or m.get("thread_ts") == parent_ts)),
            key=lambda m: float(m["ts"]),
        )
        page = []
        for message in thread[:limit]:
            out = copy.deepcopy(message)
            if not with_metadata:
                out.pop("metadata", None)
            page.append(out)
        return {"messages": page, "has_more": len(thread) > limit, "response_metadata": {"next_cursor": ""}}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            raise SlackError("channel_not_found")
        channel = self._resolve_channel(str(args["channel"]))
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        self._message_errors(args)
        ts = self._next_ts()
        message = self._message(args, ts)
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel:
            raise SlackError("channel_not_found")
        message = self._messages.get((channel, ts))
        if message is None:
            raise SlackError("message_not_found")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        self._message_errors(args)
        message["text"] = args.get("text") or ""
        for key in ("blocks", "attachments"):
            if args.get(key) is not None:
                message[key] = args[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel, "ts": ts, "text": message["text"], "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            raise SlackError("channel_not_found")
        self._resolve_channel(str(args["channel"]))
        if str(args.get("user") or "") not in self.users:
            raise SlackError("user_not_in_channel")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        self._message_errors(args)
        return {"message_ts": self._next_ts()}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("message_ts") or "")
        if not channel:
            raise SlackError("channel_not_found")
        if not any(ch == channel for ch, _ in self._messages) and not any(
                self.dm_channel(u) == channel for u in self.users):
            raise SlackError("channel_not_found")  # a channel the app cannot see (or that does not exist)
        if (channel, ts) not in self._messages:
            raise SlackError("message_not_found")
        return {
            "channel": channel,
            "permalink": f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            self.socket_mode = FakeSocketMode(self.app_id)
        return {"url": self.socket_mode.url}

    def stop(self) -> None:
        """Stop serving, and close Socket Mode connections too."""
        if self.socket_mode is not None:
            self.socket_mode.stop()
            self.socket_mode = None
        super().stop()

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        _require(args, "trigger_id", "view")
        view = args["view"]
        self._view_errors(view)
        self._check_external_id(view)
        return {"view": self._store_view(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        _require(args, "trigger_id", "view")
        view = args["view"]
        self._view_errors(view)
        self._check_external_id(view)
        return {"view": self._store_view(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not (args.get("view_id") or args.get("external_id")):
            raise SlackError("invalid_arguments", ["[ERROR] either view_id or external_id is required"])
        _require(args, "view")
        if args.get("view_id"):
            current = self._views.get(str(args["view_id"]))
        else:
            current = next((v for v in self._views.values() if v["external_id"] == args["external_id"]), None)
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = args["view"]
        self._view_errors(view, home=current["type"] == "home")
        self._check_external_id(view, own_id=current["id"])
        return {"view": self._store_view(view, view_id=current["id"], previous=current)}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        _require(args, "usergroup")
        members = self._usergroups.get(str(args["usergroup"]))
        if members is None:
            raise SlackError("no_such_subteam")
        return {"users": list(members)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        _require(args, "user_id", "view")
        user_id = str(args["user_id"])
        if user_id not in self.users:
            raise SlackError("user_not_found")
        view = args["view"]
        self._view_errors(view, home=True)
        current_id = self._home_views.get(user_id)
        current = self._views.get(current_id) if current_id else None
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(view, view_id=current_id, previous=current)
        self._home_views[user_id] = stored["id"]
        return {"view": stored}


def _args(call: Call) -> dict[str, Any]:
    args: dict[str, Any] = dict(call.query)
    if isinstance(call.body, dict):
        args.update(call.body)
    return args


def _require(args: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if args.get(n) in (None, "")]
    if missing:
        raise SlackError("invalid_arguments", [f"[ERROR] missing required field: {n}" for n in missing])
