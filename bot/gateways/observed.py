"""Counting and timing every call to Slack and GitLab, by method and outcome (GET /metrics)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from bot import metrics

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
    """slack_sdk's WebClient, every Web API call counted and timed by method (chat.postMessage…).

    slack_sdk raises SlackApiError for `ok: false`, so an error answer counts as an error.
    """

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        # Only method names slack_sdk knows become labels: a handful, never user input.
        with observed_call("slack", api_method if api_method.replace(".", "").isalnum() else "other"):
            return super().api_call(api_method, **kwargs)
