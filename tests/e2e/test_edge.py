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


# --- issue 15: what the fuzz campaign found -----------------------------------------------------------


def test_a_fresh_timestamp_with_a_non_ascii_signature_is_401_not_a_crash(app, slack):
    # hmac.compare_digest refuses non-ASCII text with TypeError: before verification, for anyone.
    for signature in ("v0=é", "v0=" + "\xff" * 64, "é"):
        resp = app.session.post(f"{app.url}/slack/events", data=b"command=%2Flearn", timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": signature.encode("latin-1")})
        assert assert_json_error(resp, 401)["error"] == "invalid_signature"
    assert slack.calls == []


@pytest.mark.parametrize("body", ["[" * 3000, '{"a":' * 3000 + "1" + "}" * 3000, "[" * 65 + "]" * 65])
def test_json_nested_thousands_deep_is_400_on_both_webhooks(app, slack, body):
    assert assert_json_error(hook(app, body.encode()), 400)["error"] == "malformed"
    assert assert_json_error(post(app, body, signed=True, content_type="application/json"), 400)["error"] == \
        "malformed_body"
    assert assert_json_error(post(app, urlencode({"payload": body}), signed=True), 400)["error"] == "malformed_body"
    assert slack.calls == []


def test_a_lone_surrogate_escape_is_400_not_a_crash_where_it_is_stored(app):
    body = json.dumps({"type": "block_actions", "user": {"id": "U0REQ"}, "trigger_id": "1.2",
                       "actions": [{"action_id": "learn.start", "value": "\ud800"}]})
    assert assert_json_error(post(app, urlencode({"payload": body}), signed=True), 400)["error"] == "malformed_body"
    assert assert_json_error(hook(app, b'{"object_kind": "issue", "x": "\\udc00"}'), 400)["error"] == "malformed"


USER = {"id": "U0REQ", "team_id": "T0LEARN"}
CLICK = {"type": "block_actions", "user": USER, "trigger_id": "1.2", "team": {"id": "T0LEARN"},
         "actions": [{"action_id": "learn.reminder.done", "value": "1", "type": "button"}]}
VIEW = {"id": "V1", "type": "modal", "callback_id": "learn.submit", "private_metadata": '{"model": "upload"}',
        "state": {"values": {}}}
SUBMISSION = {"type": "view_submission", "user": USER, "team": {"id": "T0LEARN"}, "view": VIEW}
SHORTCUT = {"type": "shortcut", "user": USER, "callback_id": "learn.new_request", "trigger_id": "1.2"}
MESSAGE_ACTION = {"type": "message_action", "user": USER, "callback_id": "learn.from_message", "trigger_id": "1.2",
                  "channel": {"id": "C1"}, "message": {"text": "hi", "ts": "1.1"}}
EVENT = {"type": "event_callback", "team_id": "T0LEARN",
         "event": {"type": "app_home_opened", "user": "U0REQ", "tab": "home"}}


def without(payload: dict, *path: str) -> dict:
    out = json.loads(json.dumps(payload))
    target = out
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return out


def having(payload: dict, value, *path) -> dict:
    out = json.loads(json.dumps(payload))
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


# Each crashed a listener or Bolt itself with a 500 and a traceback on main.
MALFORMED = {
    "click without user": without(CLICK, "user"),
    "click with user a string": having(CLICK, "U0REQ", "user"),
    "click with user null": having(CLICK, None, "user"),
    "click with user without id": having(CLICK, {"name": "x"}, "user"),
    "click with user id a number": having(CLICK, 5, "user", "id"),
    "click without trigger_id": without(CLICK, "trigger_id"),
    "click with actions a string": having(CLICK, "learn.reminder.done", "actions"),
    "click with actions an object": having(CLICK, {"action_id": "learn.reminder.done"}, "actions"),
    "click with actions empty": having(CLICK, [], "actions"),
    "click with an action a number": having(CLICK, [1], "actions"),
    "click with action_id a number": having(CLICK, 1, "actions", 0, "action_id"),
    "click with value a list": having(CLICK, ["1"], "actions", 0, "value"),
    "click with selected_option a string": having(CLICK, "upload", "actions", 0, "selected_option"),
    "click with team a number": having(CLICK, 5, "team"),
    "click with enterprise a list": having(CLICK, ["E1"], "enterprise"),
    "click with authorizations a string": having(CLICK, "x", "authorizations"),
    "click with container a string": having(CLICK, "x", "container"),
    "click with view without id": having(CLICK, {"callback_id": "learn.submit"}, "view"),
    "submission without view": without(SUBMISSION, "view"),
    "submission with view a string": having(SUBMISSION, "V1", "view"),
    "submission without state": without(SUBMISSION, "view", "state"),
    "submission without view.type": without(SUBMISSION, "view", "type"),
    "submission with state.values a list": having(SUBMISSION, [], "view", "state", "values"),
    "submission with a block a string": having(SUBMISSION, {"title": "x"}, "view", "state", "values"),
    "submission with private_metadata a number": having(SUBMISSION, 5, "view", "private_metadata"),
    "submission without user": without(SUBMISSION, "user"),
    "submission with response_urls null": having(SUBMISSION, None, "response_urls"),
    "submission with two response_urls": having(SUBMISSION, [{}, {}], "response_urls"),
    "view null": {"view": None},
    "authorizations false inside an event": {"event": {"authorizations": False}},
    "a message's user a number": having(MESSAGE_ACTION, 5, "message", "user"),
    "shortcut without user": without(SHORTCUT, "user"),
    "shortcut with callback_id a number": having(SHORTCUT, 5, "callback_id"),
    "message shortcut without message": without(MESSAGE_ACTION, "message"),
    "message shortcut with message a string": having(MESSAGE_ACTION, "hi", "message"),
    "message shortcut with channel a number": having(MESSAGE_ACTION, 5, "channel"),
    "message shortcut with files a number": having(MESSAGE_ACTION, 1, "message", "files"),
    "message shortcut with attachments true": having(MESSAGE_ACTION, True, "message", "attachments"),
    "event a string": having(EVENT, "app_home_opened", "event"),
    "event null": having(EVENT, None, "event"),
    "event without user": without(EVENT, "event", "user"),
    "type a number": having(CLICK, 1, "type"),
    "interactive_message with callback_id a number": {"type": "interactive_message", "callback_id": 1},
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_but_malformed_interactive_payload_is_400_with_a_short_json_error(app, slack, payload, caplog):
    caplog.set_level(logging.DEBUG)
    resp = app.interaction(payload)
    assert assert_json_error(resp, 400)["error"] == "malformed_payload"
    assert "Traceback" not in caplog.text
    assert slack.calls == []


@pytest.mark.parametrize("body", [
    "command=%2Flearn&text=mine", "command=%2Flearn&text=settings&user_id=U0REQ",
    "command=%2Flearn&text=upload&user_id=U0REQ",
])
def test_a_slash_command_without_who_or_a_trigger_is_400(app, body):
    assert assert_json_error(post(app, body, signed=True), 400)["error"] == "malformed_payload"


@pytest.mark.parametrize("value", ["99999999999999999999", "2147483648", "1e400", "-1", "٣"])
def test_a_button_value_past_the_database_integer_finds_nothing_and_is_acknowledged(app, slack, value):
    resp = app.block_action("learn.reminder.done", value=value)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("metadata", ['{"request": 1e400, "version": 1, "verb": "decline"}',
                                      '{"request": 99999999999999, "version": 0, "verb": "decline"}',
                                      "[" * 3000, '["request"]'])
def test_modal_metadata_that_is_not_what_learnbot_wrote_says_the_form_is_out_of_date(app, metadata):
    payload = having(SUBMISSION, {**VIEW, "callback_id": "learn.decide", "private_metadata": metadata}, "view")
    resp = app.interaction(payload)
    assert resp.status_code == 200, resp.text
    assert "out of date" in json.dumps(resp.json())
