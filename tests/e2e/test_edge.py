"""The HTTP edge over real HTTP: verified before parsed, sized before read, JSON errors, no bodies in logs."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

import pytest

from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import sign

pytestmark = pytest.mark.e2e
SENTINEL = "zz-secret-typed-by-someone-zz"


def post(app, body: bytes | str, *, signed: bool, content_type: str = "application/x-www-form-urlencoded",
         secret: str = SIGNING_SECRET):
    raw = body.encode() if isinstance(body, str) else body
    ts = str(int(time.time()))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts}
    if signed:
        headers["X-Slack-Signature"] = sign(secret, ts, raw.decode("utf-8", "replace"))
    return app.session.post(f"{app.url}/slack/events", data=raw, headers=headers, timeout=10)


def assert_json_error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers["Content-Type"]
    assert "<html" not in resp.text.lower()
    body = resp.json()
    assert isinstance(body.get("error"), str) and len(resp.content) < 500
    return body


@pytest.mark.parametrize("body, content_type", [
    ("{this is not json", "application/json"),
    ('{"type": "block_actions", "payload": ', "application/json"),
    ("payload=%7Bbroken", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
])
def test_unsigned_garbage_is_refused_401_before_anything_parses_it(app, slack, body, content_type):
    resp = post(app, body, signed=False, content_type=content_type)
    assert assert_json_error(resp, 401)["error"] == "invalid_signature"
    assert slack.calls == []


def test_a_bad_timestamp_is_401_not_a_crash(app):
    resp = app.session.post(f"{app.url}/slack/events", data="command=%2Flearn", timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": "yesterday",
        "X-Slack-Signature": "v0=" + "0" * 64})
    assert_json_error(resp, 401)


@pytest.mark.parametrize("body, content_type", [
    ("{this is not json", "application/json"),
    ("payload=%7Bbroken", "application/x-www-form-urlencoded"),
    ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),  # JSON, but not an object
    ('["a", "list"]', "application/json"),
])
def test_signed_but_malformed_is_a_400_with_a_short_json_error(app, body, content_type):
    resp = post(app, body, signed=True, content_type=content_type)
    assert assert_json_error(resp, 400)["error"] == "malformed_body"


def test_a_body_over_one_mebibyte_is_413_unread(app, slack):
    body = "payload=" + "a" * (3 * 1024 * 1024)
    resp = post(app, body, signed=True)
    assert_json_error(resp, 413)
    assert slack.calls == []


def test_slack_payloads_near_their_real_size_still_pass(app):
    # A modal's state can be tens of KB; the limit is far above anything Slack sends.
    resp = app.command("help " + "x" * 60_000)
    assert resp.status_code == 200 and resp.json()["blocks"]


def test_no_request_body_is_ever_logged(app, caplog):
    caplog.set_level(logging.DEBUG)
    post(app, f"text={SENTINEL}&command=%2Flearn", signed=False)  # forged
    post(app, f'{{"type": "x", "secret": "{SENTINEL}"}}', signed=True, content_type="application/json")
    app.interaction({"type": "block_actions", "user": {"id": "U0REQ"}, "team": {"id": "T0LEARN"},
                     "actions": [{"action_id": "nobody.handles.this", "value": SENTINEL}],
                     "trigger_id": "1.2", "api_app_id": "A0LEARN"})
    assert caplog.records, "expected the refusals to be logged"
    assert SENTINEL not in caplog.text


def test_unknown_paths_and_methods_get_json_not_html(app):
    assert_json_error(app.session.get(f"{app.url}/no/such/page", timeout=10), 404)
    assert_json_error(app.session.get(f"{app.url}/slack/events", timeout=10), 405)
    assert_json_error(app.session.delete(f"{app.url}/gitlab/webhook", timeout=10), 405)


def test_a_listener_that_fails_answers_500_in_json(app, services, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.home, "mine", broken)
    assert_json_error(app.command("mine"), 500)


def test_metrics_content_type_has_each_parameter_once(app):
    resp = app.session.get(f"{app.url}/metrics", timeout=10)
    assert resp.status_code == 200
    kind, *params = [p.strip() for p in resp.headers["Content-Type"].split(";")]
    names = [p.split("=", 1)[0].lower() for p in params]
    assert kind == "text/plain"
    assert len(names) == len(set(names)), resp.headers["Content-Type"]
    assert "charset" in names and "version" in names
    assert "learnbot_after_answer_queue_depth" in resp.text


# --- the GitLab webhook -----------------------------------------------------------------------------


def hook(app, body: bytes, token: str = "hook-secret"):
    return app.session.post(f"{app.url}/gitlab/webhook", data=body, timeout=10, headers={
        "X-Gitlab-Token": token, "X-Gitlab-Event": "Issue Hook", "Content-Type": "application/json"})


def test_webhook_with_the_wrong_token_is_refused_before_its_body_is_read(app, services):
    assert_json_error(hook(app, b"{not json at all", token="wrong"), 401)
    assert_json_error(hook(app, b"x" * (9 * 1024 * 1024), token="wrong"), 401)


def test_webhook_body_over_the_limit_is_413(app):
    big = json.dumps({"object_kind": "issue", "padding": "x" * (9 * 1024 * 1024)}).encode()
    assert_json_error(hook(app, big), 413)


def test_webhook_garbage_with_the_right_token_is_400(app):
    assert assert_json_error(hook(app, b"\xff{garbage"), 400)["error"] == "malformed"


def test_a_command_whose_text_holds_form_syntax_is_still_answered(app):
    resp = app.command("help " + urlencode({"a": "b&c=d"}))
    assert resp.status_code == 200
