"""HTTP: POST /slack/events, POST /gitlab/webhook, GET /healthz, GET /metrics."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.container import Services

log = logging.getLogger(__name__)


def create_web_app(services: Services, bolt_app: App) -> Flask:
    web = Flask("learnbot")
    slack_handler = SlackRequestHandler(bolt_app)

    @web.post("/slack/events")
    def slack_events() -> Response:
        from flask import request

        return slack_handler.handle(request)  # type: ignore[no-any-return]

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            services.db.ping()
        except SQLAlchemyError as exc:
            log.error("health check: database unreachable: %s", exc)
            return jsonify(status="unhealthy", database="unreachable"), 503
        return jsonify(status="ok", database="ok"), 200

    @web.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return web
