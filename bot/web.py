"""HTTP: POST /slack/events, POST /gitlab/webhook, GET /healthz, GET /metrics, GET /readyz."""

from __future__ import annotations

import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.container import Services
from bot.domain.gitlab_events import MalformedEvent
from bot.ops.routes import register_ops_routes
from bot.services.issue_events import delivery_key

log = logging.getLogger(__name__)


def create_web_app(services: Services, bolt_app: App) -> Flask:
    web = Flask("learnbot")
    web.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024  # an issue description may be 1 MB; JSON escapes grow it
    slack_handler = SlackRequestHandler(bolt_app)
    # GitLab events are answered first and acted on here, off the request thread.
    after_answer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gitlab-event")
    web.extensions["gitlab_events"] = after_answer
    secret = services.settings.gitlab_webhook_secret

    @web.post("/slack/events")
    def slack_events() -> Response:
        return slack_handler.handle(request)

    @web.post("/gitlab/webhook")
    def gitlab_webhook() -> tuple[Response, int]:
        given = request.headers.get("X-Gitlab-Token", "")
        if secret is None:
            log.error("GitLab webhook refused: GITLAB_WEBHOOK_SECRET is not set")
            return jsonify(error="unauthorized"), 401
        if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            log.warning("GitLab webhook refused: wrong X-Gitlab-Token from %s", request.remote_addr)
            return jsonify(error="unauthorized"), 401
        raw = request.get_data()
        event = request.headers.get("X-Gitlab-Event")
        try:
            payload = json.loads(raw)
            accepted = services.issue_events.accept(
                event_header=event, payload=payload, now=services.clock(),
                key=delivery_key(request.headers.get("Idempotency-Key"), raw))
        except (ValueError, MalformedEvent) as exc:  # json.JSONDecodeError is a ValueError
            log.warning("GitLab webhook: malformed %s body: %s", event or "event", exc)
            return jsonify(error="malformed", detail=str(exc)[:300]), 400
        if accepted.delivery_id is None:
            return jsonify(status="ignored", reason=accepted.ignored), 200
        if accepted.duplicate:
            return jsonify(status="duplicate"), 200
        after_answer.submit(_act_on, services, accepted.delivery_id)
        return jsonify(status="accepted"), 200

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            services.db.ping()
        except SQLAlchemyError as exc:
            log.error("health check: database unreachable: %s", exc)
            return jsonify(status="unhealthy", database="unreachable"), 503
        return jsonify(status="ok", database="ok"), 200

    register_ops_routes(web, services)  # /metrics, /readyz (bot/ops/routes.py)
    return web


def _act_on(services: Services, delivery_id: int) -> None:
    try:
        services.issue_events.process(delivery_id, now=services.clock())
    except Exception:  # the stored delivery stays pending; the worker's next pass acts on it
        log.exception("GitLab delivery %s: acting on it failed; the worker will retry", delivery_id)
