"""HTTP: POST /slack/events, POST /gitlab/webhook, GET /healthz, GET /readyz, GET /metrics.

The edge is strict: a request is verified (Slack's signature, GitLab's token) before its body is
parsed; a body over the size Slack or GitLab ever send is refused with 413 from its
Content-Length, unread; malformed input gets a 4xx; every error is a short JSON body, never an
HTML page; no body is ever logged.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request.internals import build_normalized_headers, extract_content_type, parse_body
from slack_sdk.signature import SignatureVerifier
from werkzeug.exceptions import HTTPException

from bot.container import Services
from bot.domain.gitlab_events import MalformedEvent
from bot.ops.routes import register_ops_routes
from bot.services.issue_events import delivery_key
from bot.slack.payloads import shape_problem

log = logging.getLogger(__name__)

# Slack's payloads are small (a modal's state is the biggest: tens of KB); 1 MiB is generous.
SLACK_BODY_MAX = 1024 * 1024
# A GitLab issue event carries the description (up to 1 MB) and its previous value; JSON escapes grow it.
GITLAB_BODY_MAX = 8 * 1024 * 1024
# Neither Slack's payloads nor GitLab's nest more than a dozen levels (a message's rich text is the deepest).
JSON_DEPTH_MAX = 64


def decode_json(text: str | bytes) -> Any:
    """A request body's JSON; ValueError (with why) for what is not JSON, nests too deeply or holds text
    no database or API can store (a lone UTF-16 surrogate, which only a "\\ud800" escape makes)."""
    try:
        value = json.loads(text)
    except RecursionError:  # json's decoder recurses per level: "[" x 3,000 runs out of stack
        raise ValueError(f"JSON nested more than {JSON_DEPTH_MAX} levels deep") from None
    json_problem(value)
    return value


def json_problem(value: Any) -> None:
    """ValueError if decoded JSON nests deeper than JSON_DEPTH_MAX or holds a lone surrogate (walked without
    recursion, so that what was decoded can also be encoded again, deeper in the stack, by whoever stores it)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > JSON_DEPTH_MAX:
                raise ValueError(f"JSON nested more than {JSON_DEPTH_MAX} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone UTF-16 surrogate (not Unicode text)") from None


def _error(status: int, error: str, detail: str | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": error}
    if detail:
        body["detail"] = detail
    return jsonify(body), status


def create_web_app(services: Services, bolt_app: App | None) -> Flask:
    """The web process's routes; without a Bolt app (Socket Mode) /slack/events is not served at all."""
    web = Flask("learnbot")
    web.config["MAX_CONTENT_LENGTH"] = GITLAB_BODY_MAX  # every route; /slack/events lowers it
    secret = services.settings.webhook_token()  # None (unset, or empty however it got here): refuse all

    @web.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        return _error(code, (exc.name or "error").lower().replace(" ", "_"))

    @web.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("%s %s failed", request.method, request.path)  # the traceback, never the body
        return _error(500, "internal_error")

    if bolt_app is not None:
        _slack_events(web, services, bolt_app)

    @web.post("/gitlab/webhook")
    def gitlab_webhook() -> tuple[Response, int]:
        given = request.headers.get("X-Gitlab-Token", "")
        if secret is None:
            log.error("GitLab webhook refused: GITLAB_WEBHOOK_SECRET is not set")
            return _error(401, "unauthorized")
        if not given or not hmac.compare_digest(given.encode(), secret):
            log.warning("GitLab webhook refused: wrong X-Gitlab-Token from %s", request.remote_addr)
            return _error(401, "unauthorized")
        raw = request.get_data()  # over GITLAB_BODY_MAX: 413 from the Content-Length, unread
        event = request.headers.get("X-Gitlab-Event")
        try:
            payload = decode_json(raw)
            accepted = services.issue_events.accept(
                event_header=event, payload=payload, now=services.clock(),
                key=delivery_key(request.headers.get("Idempotency-Key"), raw))
        except (ValueError, MalformedEvent) as exc:  # json.JSONDecodeError is a ValueError
            log.warning("GitLab webhook: malformed %s body: %s", event or "event", str(exc)[:200])
            return _error(400, "malformed", str(exc)[:300])
        if accepted.delivery_id is None:
            return jsonify(status="ignored", reason=accepted.ignored), 200
        if accepted.duplicate:
            return jsonify(status="duplicate"), 200
        # Answered first (GitLab disables hooks that are slow); acted on after, off the answering
        # path. The delivery is stored: if the queue is full, the worker's next pass acts on it.
        if not services.after_answer.submit("gitlab_event", _act_on, services, accepted.delivery_id):
            log.info("GitLab delivery %s left to the worker (after-answer queue full)", accepted.delivery_id)
        return jsonify(status="accepted"), 200

    register_ops_routes(web, services)  # /healthz, /readyz, /metrics (bot/ops/routes.py)
    return web


def _slack_events(web: Flask, services: Services, bolt_app: App) -> None:
    secret = services.settings.slack_signing_secret
    if secret is None:
        raise ValueError("SLACK_SIGNING_SECRET is required to serve POST /slack/events")
    verifier = SignatureVerifier(secret.get_secret_value())

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[Response, int]:
        request.max_content_length = SLACK_BODY_MAX
        raw = request.get_data()  # over 1 MiB: 413 from the Content-Length, unread
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            verified = verifier.is_valid(raw, timestamp, signature)
        # ValueError: a timestamp that is not a number, a body that is not UTF-8; TypeError: a signature
        # that is not ASCII (hmac.compare_digest compares only ASCII str).
        except (ValueError, TypeError):
            verified = False
        if not verified:
            log.info("Slack request refused: bad or stale signature from %s", request.remote_addr)
            return _error(401, "invalid_signature")
        # Signed by Slack from here on; what does not parse is a bad request, not a crash. Parsed
        # once, here, into the request Bolt dispatches (Bolt does not verify or parse it again).
        try:
            bolt_request = BoltRequest(body=raw.decode("utf-8"), headers=dict(request.headers),
                                       query=request.query_string.decode("utf-8", "replace"))
        except RecursionError:
            return _error(400, "malformed_body", f"JSON nested more than {JSON_DEPTH_MAX} levels deep")
        except ValueError:  # not UTF-8, not JSON
            return _error(400, "malformed_body")
        except (AttributeError, TypeError, KeyError, IndexError):
            # Bolt reads the envelope's fields (team, user, enterprise, authorizations) as it builds the
            # request's context, and trips on JSON that is not an object or has them of the wrong type.
            # Refused either way; parsed once more, on this path only, to say what is wrong.
            headers: dict[str, Any] = dict(request.headers)
            body = parse_body(raw.decode("utf-8"), extract_content_type(build_normalized_headers(headers)))
            return _refusal(body) or _error(400, "malformed_payload", "the payload's envelope is not what Slack sends")
        return _refusal(bolt_request.body) or _to_response(bolt_app.dispatch(bolt_request))


def _refusal(body: Any) -> tuple[Response, int] | None:
    """Why a signed Slack body cannot be handed to Bolt and its listeners, as a 400; None when it can."""
    if not isinstance(body, dict) or not body:
        return _error(400, "malformed_body")
    try:
        json_problem(body)
    except ValueError as exc:
        return _error(400, "malformed_body", str(exc))
    problem = shape_problem(body)
    if problem:
        log.warning("Slack request refused: %s", problem)  # a path and a type, never a value
        return _error(400, "malformed_payload", problem)
    return None


def _to_response(answer: BoltResponse) -> Response | tuple[Response, int]:
    if answer.status >= 400 and not answer.body:
        # Bolt answers 404 for a request no listener takes, 500 for a listener that raised.
        return _error(answer.status, "not_handled" if answer.status == 404 else "internal_error")
    response = Response(answer.body, status=answer.status)
    for name, values in answer.headers.items():
        if name.lower() == "content-type":
            response.headers["Content-Type"] = values[0]
            continue
        for value in values:
            response.headers.add(name, value)
    return response


def _act_on(services: Services, delivery_id: int) -> None:
    try:
        services.issue_events.process(delivery_id, now=services.clock())
    except Exception:  # the stored delivery stays pending; the worker's next pass acts on it
        log.exception("GitLab delivery %s: acting on it failed; the worker will retry", delivery_id)
        raise
