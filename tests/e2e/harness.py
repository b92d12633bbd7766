"""The running app over real HTTP, and requests signed and shaped the way Slack sends them."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from werkzeug.serving import make_server

from bot.container import Services
from bot.slack.app import create_bolt_app
from bot.web import create_web_app

TEAM = {"id": "T0LEARN", "domain": "acme"}
_triggers = itertools.count(1)
# Passed on to the processes tests start, so that under CI's moved clock (libfaketime's
# LD_PRELOAD + FAKETIME) a child agrees with the test about what time it is.
_INHERITED = ("PATH", "HOME", "LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "FAKETIME_NO_CACHE",
              "DONT_FAKE_MONOTONIC", "TZ")


def child_env(env: dict[str, str]) -> dict[str, str]:
    """`env` plus what a child process of the tests must inherit (PATH, HOME, a moved clock)."""
    inherited = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    inherited.setdefault("HOME", "/tmp")
    return {**inherited, **env}


def sign(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class RunningApp:
    """learnbot's web app (Flask + Bolt) on an ephemeral loopback port.

    A threaded werkzeug server is used here because it stops cleanly between tests; the
    waitress server of `learnbot serve` is exercised by tests/e2e/test_cli.py.
    """

    services: Services
    signing_secret: str
    url: str = ""
    _server: Any = None
    _thread: threading.Thread | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def start(self) -> RunningApp:
        web = create_web_app(self.services, create_bolt_app(self.services))
        self._server = make_server("127.0.0.1", 0, web, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.session.close()

    # --- raw signed posts ---------------------------------------------------------------------

    def post_signed(self, body: str, *, timestamp: int | None = None, secret: str | None = None,
                    headers: dict[str, str] | None = None) -> requests.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sent = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(secret or self.signing_secret, ts, body),
            **(headers or {}),
        }
        return self.session.post(f"{self.url}/slack/events", data=body.encode(), headers=sent, timeout=10)

    # --- what Slack sends --------------------------------------------------------------------

    def command(self, text: str, *, user: str = "U0REQ", **kw: Any) -> requests.Response:
        trigger = f"{next(_triggers)}.{uuid.uuid4().hex[:8]}"
        body = urlencode({
            "token": "legacy-verification-token", "team_id": TEAM["id"], "team_domain": TEAM["domain"],
            "channel_id": "C0GENERAL", "channel_name": "general", "user_id": user, "user_name": user.lower(),
            "command": "/learn", "text": text, "api_app_id": "A0LEARN", "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0LEARN/1/abc", "trigger_id": trigger,
        })
        return self.post_signed(body, **kw)

    def interaction(self, payload: dict[str, Any], **kw: Any) -> requests.Response:
        return self.post_signed(urlencode({"payload": json.dumps(payload)}), **kw)

    def submit(self, model_key: str, state: dict[str, Any], *, user: str = "U0REQ", view_id: str | None = None,
               metadata: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
        view_id = view_id or "V" + uuid.uuid4().hex[:10].upper()
        return self.interaction({
            "type": "view_submission", "team": TEAM, "api_app_id": "A0LEARN", "token": "legacy",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
            "trigger_id": f"{next(_triggers)}.sub",
            "view": {
                "id": view_id, "team_id": TEAM["id"], "type": "modal", "callback_id": "learn.submit",
                "private_metadata": json.dumps({"model": model_key, **(metadata or {})}), "hash": "1700000000.abc",
                "title": {"type": "plain_text", "text": "Form"}, "blocks": [], "root_view_id": view_id,
                "app_id": "A0LEARN", "bot_id": "B0LEARN", "state": {"values": state},
            },
            "response_urls": [], "is_enterprise_install": False, "enterprise": None,
        }, **kw)

    def message_shortcut(self, message: dict[str, Any], *, channel: str, user: str = "U0REQ",
                         response_url: str = "https://hooks.slack.com/app/T0LEARN/1/abc",
                         callback_id: str = "learn.from_message", **kw: Any) -> requests.Response:
        """A message shortcut ("message_action") used on `message` in `channel`, as Slack sends it."""
        return self.interaction({
            "type": "message_action", "token": "legacy", "action_ts": f"{time.time():.6f}", "team": TEAM,
            "user": {"id": user, "name": user.lower(), "username": user.lower(), "team_id": TEAM["id"]},
            "channel": {"id": channel, "name": "project"}, "is_enterprise_install": False, "enterprise": None,
            "callback_id": callback_id, "trigger_id": f"{next(_triggers)}.msg", "response_url": response_url,
            "message_ts": message["ts"], "message": {k: v for k, v in message.items() if k != "channel"},
        }, **kw)

    def global_shortcut(self, *, user: str = "U0REQ", callback_id: str = "learn.new_request",
                        **kw: Any) -> requests.Response:
        """A global shortcut from the shortcuts menu ("shortcut"), as Slack sends it."""
        return self.interaction({
            "type": "shortcut", "token": "legacy", "action_ts": f"{time.time():.6f}", "team": TEAM,
            "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]}, "is_enterprise_install": False,
            "enterprise": None, "callback_id": callback_id, "trigger_id": f"{next(_triggers)}.short",
        }, **kw)

    def block_action(self, action_id: str, *, value: str | None = None, user: str = "U0REQ",
                     view: dict[str, Any] | None = None, selected: str | None = None,
                     message: dict[str, Any] | None = None) -> requests.Response:
        """A click; `message` (as FakeSlack.messages() returns it) makes it a click on that message."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": "b", "type": "button",
                                  "action_ts": f"{time.time():.6f}"}
        if value is not None:
            action["value"] = value
        if selected is not None:
            action.update(type="static_select", selected_option={"value": selected})
        payload: dict[str, Any] = {
            "type": "block_actions", "team": TEAM, "api_app_id": "A0LEARN", "token": "legacy",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
            "trigger_id": f"{next(_triggers)}.act", "actions": [action],
            "container": {"type": "view", "view_id": view["id"]} if view else {"type": "message"},
        }
        if message is not None:
            payload["container"] = {"type": "message", "message_ts": message["ts"],
                                    "channel_id": message["channel"], "is_ephemeral": False}
            payload["channel"] = {"id": message["channel"], "name": "directmessage"}
            payload["message"] = {k: v for k, v in message.items() if k != "channel"}
        if view is not None:
            payload["view"] = view
        return self.interaction(payload)


def serve_process(args: list[str], env: dict[str, str], timeout: float = 20.0,
                  moved_clock: bool = True) -> tuple[Any, str]:
    """`learnbot serve …` as operators run it (waitress, a real process) on a free port, once /healthz answers.

    Returns (the Popen, its base URL); the caller terminates it.
    """
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                            env=child_env(env) if moved_clock else {**child_env(env), "LD_PRELOAD": "", "FAKETIME": ""},
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return proc, base
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"learnbot serve did not start:\n{proc.communicate()[0]}") from None
            time.sleep(0.1)


def wait_until(check: Any, timeout: float = 8.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (short sleeps: libfaketime-safe), and return that.

    The one wait of the e2e tests: `timeout` is patience on a loaded machine, never what a test asserts.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"{what} not met within {timeout}s")
