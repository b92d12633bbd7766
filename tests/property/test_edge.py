"""The HTTP edge on arbitrary requests, signed and not: a result or a 4xx with a short JSON body, never a 500.

In-process through Flask's test client (bot.web.create_web_app with the real Bolt app); what the app
does after answering goes to the loopback Slack and GitLab stand-ins, as in the e2e tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from bot.container import build_services
from bot.messages.ids import Action, Callback
from bot.slack.app import create_bolt_app
from bot.web import create_web_app
from tests.e2e.harness import sign
from tests.property.strategies import TRICKY_TEXT, examples, json_values, mutated
from tests.samples import RAW, slack_state
from tests.standins import gitlab_hooks as hooks
from tests.standins.gitlab import FakeGitLab
from tests.standins.slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HOOK_TOKEN = "hook-secret"
PROJECT = "learning-development/general"
TEAM = {"id": "T0LEARN", "domain": "acme"}
USER = {"id": "U0REQ", "username": "u0req", "name": "u0req", "team_id": "T0LEARN"}


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[Any]:
    with FakeSlack() as slack, FakeGitLab() as gitlab:
        slack.add_user("U0REQ", tz="America/New_York", name="Ada Lovelace")
        gitlab.add_project(PROJECT)
        services = build_services(load_settings({
            "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url,
            "GITLAB_URL": gitlab.url, "GITLAB_TOKEN": gitlab.token, "GITLAB_PROJECT": PROJECT,
            "GITLAB_WEBHOOK_SECRET": HOOK_TOKEN, "DATABASE_URL": database_url, "LEARNBOT_ADMINS": "U0ADMIN",
        }), gitlab_timeout=2.0)
        web = create_web_app(services, create_bolt_app(services))
        yield web.test_client()
        services.close()


@pytest.fixture(autouse=True)
def quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)  # thousands of refusals, each logged as it should be


def assert_answered(resp: Any) -> None:
    """A result, or a 4xx whose body is a short JSON error: never a 500, never HTML or a traceback."""
    assert resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
    if resp.status_code >= 400:
        assert resp.headers["Content-Type"].startswith("application/json"), resp.headers["Content-Type"]
        body = json.loads(resp.get_data())
        assert isinstance(body.get("error"), str) and len(resp.get_data()) < 1000


def _view(callback_id: str, metadata: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    return {"id": "V0FORM", "team_id": "T0LEARN", "type": "modal", "callback_id": callback_id,
            "private_metadata": json.dumps(metadata), "hash": "1700000000.abc", "state": {"values": state},
            "title": {"type": "plain_text", "text": "Form"}, "blocks": [], "app_id": "A0LEARN"}


def _block_action(action_id: str, value: str, view: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions", "team": TEAM, "user": USER, "api_app_id": "A0LEARN", "token": "legacy",
        "trigger_id": "1.act", "container": {"type": "message", "message_ts": "1.2", "channel_id": "D0REQ"},
        "channel": {"id": "D0REQ", "name": "directmessage"},
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": value,
                     "action_ts": "1.3", "selected_option": {"value": "upload"}}],
    }
    if view is not None:
        payload["view"], payload["container"] = view, {"type": "view", "view_id": view["id"]}
    return payload


def _submission(callback_id: str, metadata: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    return {"type": "view_submission", "team": TEAM, "user": USER, "api_app_id": "A0LEARN", "token": "legacy",
            "trigger_id": "1.sub", "view": _view(callback_id, metadata, state), "response_urls": [],
            "is_enterprise_install": False, "enterprise": None}


STATE = {key: slack_state(raw) for key, raw in RAW.items()}
DECISION = {"text": {"value": {"type": "plain_text_input", "value": "Not this quarter"}},
            "until": {"value": {"type": "datepicker", "selected_date": "2030-01-01"}},
            "confirm": {"value": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}}}
SETTINGS = {"country": {"value": {"type": "plain_text_input", "value": "DE"}},
            "hour": {"value": {"type": "static_select", "selected_option": {"value": "9"}}},
            "paused": {"value": {"type": "datepicker", "selected_date": "2030-01-01"}}}
INTERACTIONS = [
    *[_block_action(a.value, "1:1" if a.value.startswith("learn.decide") else "1") for a in Action],
    _block_action(Action.START_REQUEST.value, "upload"),
    _block_action(Action.FIELD_CHANGED.value, "x", view=_view(Callback.SUBMIT_REQUEST.value, {"model": "upload"},
                                                              STATE["upload"])),
    *[_submission(Callback.SUBMIT_REQUEST.value, {"model": key}, state) for key, state in STATE.items()],
    _submission(Callback.CHANGE_DATE.value, {"request": 1},
                {"anchor": {"value": {"type": "datepicker", "selected_date": "2030-01-01"}}}),
    _submission(Callback.DECIDE.value, {"request": 1, "version": 0, "verb": "decline"}, DECISION),
    _submission(Callback.REPLY.value, {"request": 1, "version": 0}, DECISION),
    _submission(Callback.SETTINGS.value, {}, SETTINGS),
    _submission(Callback.FOLLOW_UP.value, {"reminder": 1},
                {"attendance": {"value": {"type": "number_input", "value": "12"}}}),
    {"type": "shortcut", "team": TEAM, "user": USER, "callback_id": Callback.NEW_REQUEST.value,
     "trigger_id": "1.short", "action_ts": "1.1", "token": "legacy"},
    {"type": "message_action", "team": TEAM, "user": USER, "callback_id": Callback.FROM_MESSAGE.value,
     "trigger_id": "1.msg", "channel": {"id": "C0GENERAL", "name": "general"}, "message_ts": "1.1",
     "response_url": "https://hooks.slack.com/app/T0LEARN/1/abc",
     "message": {"type": "message", "user": "U0HOST", "ts": "1.1", "text": "Can we get a course on <!here>?",
                 "files": [{"name": "a.pdf"}], "blocks": [{"type": "rich_text", "elements": []}]}},
]
EVENTS = [
    {"type": "event_callback", "team_id": "T0LEARN", "api_app_id": "A0LEARN", "event_id": "Ev1", "event_time": 1,
     "event": {"type": "app_home_opened", "user": "U0REQ", "channel": "D0REQ", "tab": "home"},
     "authorizations": [{"team_id": "T0LEARN", "user_id": "U0LBOT", "is_bot": True}]},
    {"type": "url_verification", "challenge": "abc", "token": "legacy"},
]
COMMAND = {"token": "legacy", "team_id": "T0LEARN", "team_domain": "acme", "channel_id": "C0GENERAL",
           "user_id": "U0REQ", "user_name": "u0req", "command": "/learn", "text": "help", "api_app_id": "A0LEARN",
           "response_url": "https://hooks.slack.com/commands/T0LEARN/1/abc", "trigger_id": "1.cmd"}
WORDS = st.sampled_from(["", "help", "mine", "settings", "upload", "live-learning", "uplod", "é", "x" * 3000])


def post_signed(client: Any, body: str, content_type: str, timestamp: str | None = None) -> Any:
    ts = timestamp or str(int(time.time()))
    return client.post("/slack/events", data=body.encode("utf-8", "surrogatepass"), headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(SECRET, ts, body)})


def _encoded(payload: Any, as_json: bool) -> tuple[str, str]:
    text = json.dumps(payload)
    if as_json:
        return text, "application/json"
    return urlencode({"payload": text}), "application/x-www-form-urlencoded"


@settings(max_examples=examples(250))
@given(payload=st.sampled_from(INTERACTIONS + EVENTS).flatmap(mutated), as_json=st.booleans())
def test_a_signed_nearly_right_payload_is_answered_or_refused_in_json(client, payload, as_json):
    assert_answered(post_signed(client, *_encoded(payload, as_json)))


@settings(max_examples=examples(60))
@given(payload=json_values, as_json=st.booleans())
def test_a_signed_body_of_any_json_is_answered_or_refused_in_json(client, payload, as_json):
    assert_answered(post_signed(client, *_encoded(payload, as_json)))


@settings(max_examples=examples(60))
@given(fields=mutated(COMMAND), word=WORDS)
def test_a_signed_slash_command_with_any_fields_is_answered_or_refused(client, fields, word):
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    if "text" in form and fields.get("text") == "help":
        form["text"] = word
    assert_answered(post_signed(client, urlencode(form), "application/x-www-form-urlencoded"))


@settings(max_examples=examples(40))
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain",
                                     "application/json; charset=utf-8", ""]))
def test_a_signed_body_of_any_bytes_is_answered_or_refused(client, body, content_type):
    ts = str(int(time.time()))
    signature = sign(SECRET, ts, body.decode("utf-8", "replace"))
    assert_answered(client.post("/slack/events", data=body, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}))


# Any header value an HTTP client can send: bytes, which the server reads as Latin-1, without a line break.
_SENDABLE = [t for t in TRICKY_TEXT if not {"\r", "\n"} & set(t)]
header_text = (st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
               | st.sampled_from([t for t in _SENDABLE if t.isascii()])
               | st.sampled_from(_SENDABLE).map(lambda t: t.encode("utf-8", "surrogatepass").decode("latin-1")))


@settings(max_examples=examples(60))
@given(body=st.binary(max_size=100), timestamp=header_text | st.just("now"), signature=header_text)
def test_an_unsigned_request_is_refused_401_in_json(client, body, timestamp, signature):
    ts = str(int(time.time())) if timestamp == "now" else timestamp
    resp = client.post("/slack/events", data=body, headers={"X-Slack-Request-Timestamp": ts,
                                                            "X-Slack-Signature": signature})
    assert resp.status_code == 401
    assert_answered(resp)


ISSUE = {"id": 1001, "iid": 7, "project_id": 1, "title": "New learning pathway: Async", "state": "opened",
         "description": "- [ ] 2027-02-03 — Start <!-- learnbot:milestone:collaborate -->",
         "labels": ["type::pathway"], "due_date": "2027-03-03", "web_url": "https://gitlab.example/x/-/issues/7",
         "created_at": "2027-01-20T10:00:00Z", "updated_at": "2027-01-20T10:00:00Z"}
DELIVERIES = [hooks.issue_event(ISSUE, action="close"), hooks.issue_event(ISSUE, action="update",
              changes=hooks.title_change("Old", "New")), hooks.note_event(ISSUE, "Thanks @all\n/close")]
GITLAB_EVENTS = st.sampled_from(["Issue Hook", "Note Hook", "Confidential Note Hook", "Push Hook"]) | header_text


@settings(max_examples=examples(80))
@given(body=st.sampled_from(DELIVERIES).flatmap(mutated).map(json.dumps) | json_values.map(json.dumps)
       | st.binary(max_size=100) | st.sampled_from(["[" * 3000, '{"a":' * 3000, '"\\ud800"']),
       event=GITLAB_EVENTS, token=st.just(HOOK_TOKEN) | header_text)
def test_a_gitlab_delivery_is_answered_or_refused_in_json(client, body, event, token):
    data = body.encode() if isinstance(body, str) else body
    assert_answered(client.post("/gitlab/webhook", data=data, headers={
        "X-Gitlab-Token": token, "X-Gitlab-Event": event, "Content-Type": "application/json"}))
