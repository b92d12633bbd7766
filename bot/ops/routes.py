"""GET /metrics (the process's own counters + gauges read from the database), the probes GET /healthz
and GET /readyz, and the latency of every answer to Slack by payload kind.

/healthz is liveness: the process answers, and nothing else is asked (a database outage must not
make an orchestrator restart every replica). /readyz is readiness: the database answers and its
schema is one this code runs on (bot.store.migrate, "the schema window")."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, generate_latest

from bot import metrics
from bot.observability import DatabaseCollector, readiness

if TYPE_CHECKING:
    from bot.container import Services

# Interactive payloads name their type near the start; the labels are this fixed set.
_INTERACTIVE = ("view_submission", "block_actions", "block_suggestion", "view_closed", "shortcut", "message_action")


def answer_kind(content_type: str, body: bytes) -> str:
    """A label for /slack/events without parsing the body: command, event, or the interactive type."""
    if content_type.startswith("application/json"):
        return "event"
    head = body[:400]
    if head.startswith(b"payload=") or b"&payload=" in body:
        for kind in _INTERACTIVE:
            if f"%22{kind}%22".encode() in head:  # "type" comes first in Slack's payloads
                return kind
        return "interactive"
    if b"command=" in body:
        return "command"
    return "other"


def register_ops_routes(web: Flask, services: Services) -> None:
    """Adds /metrics, /healthz and /readyz, and times /slack/events. Called once per web app."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(services.db, services.clock))

    @web.get("/metrics")
    def metrics_page() -> Response:
        body = generate_latest(REGISTRY) + generate_latest(database)
        return Response(body, mimetype=None, content_type=CONTENT_TYPE_PLAIN_0_0_4)  # what generate_latest writes

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    @web.get("/readyz")
    def readyz() -> tuple[Response, int]:
        ok, reason = readiness(services.db)
        if not ok:
            return jsonify(status="not ready", reason=reason), 503
        return jsonify(status="ready"), 200

    @web.before_request
    def _start_clock() -> None:
        if request.path == "/slack/events":
            g.learnbot_started = time.perf_counter()

    @web.after_request
    def _observe_answer(response: Response) -> Response:
        started = g.pop("learnbot_started", None)
        if started is not None:
            # A body refused unread (413) stays unread: its kind is not worth reading megabytes for.
            small = response.status_code != 413 and (request.content_length or 0) <= 1024 * 1024
            kind = answer_kind(request.content_type or "", request.get_data(cache=True)) if small else "other"
            metrics.SLACK_ANSWER_SECONDS.labels(kind).observe(time.perf_counter() - started)
        return response
