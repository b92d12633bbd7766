"""Counting and timing every call to Slack and GitLab, by method and outcome (GET /metrics); Slack's at its pace."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import metrics
from bot.gateways.pace import CLIENT_MAX_WAIT, Pace, Paced

_COUNTERS = {"slack": (metrics.SLACK_CALLS, metrics.SLACK_CALL_SECONDS),
             "gitlab": (metrics.GITLAB_CALLS, metrics.GITLAB_CALL_SECONDS)}


@contextmanager
def observed_call(system: str, method: str) -> Iterator[None]:
    """Time the block; count it as `ok`, or `error` when it raises (the exception goes on)."""
    calls, seconds = _COUNTERS[system]
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        seconds.labels(method).observe(time.perf_counter() - started)
        calls.labels(method, outcome).inc()


class ObservedWebClient(WebClient):
    """slack_sdk's WebClient, every Web API call counted and timed by method (chat.postMessage…),
    and made at Slack's pace (bot/gateways/pace.py) by every thread that shares this client.

    slack_sdk raises SlackApiError for `ok: false`, so an error answer counts as an error.

    A 429 is told to the pace (nobody calls the method before its Retry-After) and the call is made
    again when that comes within `max_wait`, up to `rate_limit_retries` times: Slack answers a 429
    before doing anything, so a retry cannot post twice. A wait longer than `max_wait`, for the
    pace or a Retry-After, is not waited: the caller gets the 429 (one Slack sent, or one the pace
    answers without calling Slack, with Retry-After), so a pool thread is never held for long.
    """

    def __init__(self, *args: Any, pace: Pace | None = None, max_wait: float = CLIENT_MAX_WAIT,
                 rate_limit_retries: int = 3, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pace = pace if pace is not None else Pace()
        self.max_wait = max_wait
        self.rate_limit_retries = rate_limit_retries

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        # Only method names slack_sdk knows become labels: a handful, never user input.
        label = api_method if api_method.replace(".", "").isalnum() else "other"
        channel = _channel(api_method, kwargs)
        retries = 0
        while True:
            try:
                with self.pace.permit(api_method, channel=channel, max_wait=self.max_wait), \
                        observed_call("slack", label):
                    return super().api_call(api_method, **kwargs)
            except Paced as exc:
                raise self._paced(api_method, exc.wait) from None
            except SlackApiError as exc:
                if exc.response.status_code != 429:
                    raise
                wait = retry_after(exc.response)
                self.pace.retry_after(api_method, wait)
                if retries >= self.rate_limit_retries or wait > self.max_wait:
                    raise
                retries += 1  # the next permit waits until Retry-After has passed

    def _paced(self, api_method: str, wait: float) -> SlackApiError:
        """The 429 Slack would answer, with its Retry-After, answered here without calling Slack."""
        response = SlackResponse(client=self, http_verb="POST", api_url=f"{self.base_url}{api_method}", req_args={},
                                 data={"ok": False, "error": "ratelimited"},
                                 headers={"Retry-After": str(max(math.ceil(wait), 1))}, status_code=429)
        return SlackApiError(f"{api_method}: rate limited by learnbot's pace (no call made)", response)


def _channel(api_method: str, kwargs: dict[str, Any]) -> str | None:
    """The channel a chat.postMessage goes to (its per-channel limit); None for other methods."""
    if api_method != "chat.postMessage":
        return None
    for part in ("json", "data", "params"):
        args = kwargs.get(part)
        if isinstance(args, dict) and args.get("channel"):
            return str(args["channel"])
    return None


def retry_after(response: SlackResponse) -> float:
    """Seconds a 429 says to wait (its Retry-After header); 1 when it says nothing readable."""
    value = next((v for k, v in (response.headers or {}).items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except ValueError:
        return 1.0
