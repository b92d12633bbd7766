"""Proves the Slack and GitLab stand-ins behave like the real APIs when driven by the real clients."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
from collections.abc import Iterator
from typing import Any

import gitlab
import pytest
import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabCreateError, GitlabGetError
from gitlab.v4.objects import Project
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    RateLimitErrorRetryHandler,
)

from ._quick_actions import Command, extract_commands
from .gitlab import FakeGitLab
from .slack import FakeSlack

CONNECTION_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(slack_server: FakeSlack) -> FakeSlack:
    slack_server.reset()
    slack_server.add_user("U0REQ0001", tz="Europe/London", name="ada")
    slack_server.add_channel("C0GENERAL", name="general")  # the bot is a member
    return slack_server


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(base_url=slack.url, token="xoxb-test-token", timeout=5)


@pytest.fixture(scope="module")
def gitlab_server() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        yield fake


@pytest.fixture
def fake_gitlab(gitlab_server: FakeGitLab) -> FakeGitLab:
    gitlab_server.reset()
    gitlab_server.add_project("learning-development/general")
    return gitlab_server


@pytest.fixture
def gl(fake_gitlab: FakeGitLab) -> gitlab.Gitlab:
    return gitlab.Gitlab(url=fake_gitlab.url, private_token=fake_gitlab.token, timeout=5)


@pytest.fixture
def project(gl: gitlab.Gitlab) -> Project:
    return gl.projects.get("learning-development/general")


def search(project: Project, term: str, scope: str) -> list[Any]:
    # python-gitlab drops every other kwarg once query_parameters is given, so "in" and "search" go together.
    return list(project.issues.list(query_parameters={"search": term, "in": scope}))


MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "request_form",
    "private_metadata": '{"kind": "new_content"}',
    "title": {"type": "plain_text", "text": "New request"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Tell us more"}}],
}


# ---------------------------------------------------------------------- FakeSlack


def test_post_message_to_user_id_answers_with_dm_channel(slack: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="U0REQ0001", text="hello", blocks=MODAL["blocks"])
    second = client.chat_postMessage(channel="U0REQ0001", text="again")

    assert first["channel"] == slack.dm_channel("U0REQ0001") == "D0REQ0001"
    assert first["message"]["text"] == "hello"
    assert first["message"]["blocks"] == MODAL["blocks"]
    assert first["message"]["bot_id"] == slack.bot_id
    assert float(second["ts"]) > float(first["ts"])
    [call, _] = slack.messages_to("U0REQ0001")
    assert call.api_method == "chat.postMessage"
    assert call.body["blocks"] == MODAL["blocks"]
    assert slack.messages_to("D0REQ0001") == slack.calls_to("chat.postMessage")
    assert [m["text"] for m in slack.messages("U0REQ0001")] == ["hello", "again"]


def test_form_encoded_json_fields_are_decoded(slack: FakeSlack, client: WebClient) -> None:
    client.api_call(
        "chat.postMessage",
        data={"channel": "C0GENERAL", "text": "t", "blocks": '[{"type": "divider"}]'},
    )
    [call] = slack.wait_for("chat.postMessage")
    assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert call.body["blocks"] == [{"type": "divider"}]


def test_chat_update_and_permalink(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="U0REQ0001", text="draft")
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="final")
    assert updated["message"]["text"] == "final"
    assert slack.messages("D0REQ0001")[0]["text"] == "final"
    link = client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/D0REQ0001/p{posted['ts'].replace('.', '')}")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=posted["channel"], ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_post_ephemeral_and_conversations_open(client: WebClient) -> None:
    opened = client.conversations_open(users="U0REQ0001")
    assert opened["channel"]["id"] == "D0REQ0001"
    assert client.conversations_open(users="U0REQ0001")["already_open"] is True
    eph = client.chat_postEphemeral(channel="C0GENERAL", user="U0REQ0001", text="only you")
    assert eph["message_ts"]


def test_users_info_and_unknown_user(slack: FakeSlack, client: WebClient) -> None:
    slack.add_user("W0NYC0001", tz="America/New_York", tz_offset=-18000, name="grace")
    user = client.users_info(user="W0NYC0001")["user"]
    assert (user["id"], user["name"], user["tz"], user["tz_offset"]) == (
        "W0NYC0001",
        "grace",
        "America/New_York",
        -18000,
    )
    assert client.users_info(user="U0REQ0001")["user"]["tz_offset"] in (0, 3600)
    with pytest.raises(SlackApiError) as err:
        client.users_info(user="U0NOBODY0")
    assert err.value.response["error"] == "user_not_found"


def test_auth_and_unknown_method(slack: FakeSlack) -> None:
    assert WebClient(base_url=slack.url, token="xoxb-x").auth_test()["user_id"] == slack.bot_user_id
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.url).auth_test()
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.url, token="xoxb-x").api_call("chat.teleport")
    assert err.value.response["error"] == "unknown_method"


def test_message_validation(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err, pytest.warns(UserWarning, match="text"):
        client.chat_postMessage(channel="U0REQ0001")
    assert err.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0REQ0001", text="t", blocks=[{"type": "divider"}] * 51)
    assert err.value.response["error"] == "invalid_blocks"
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0REQ0001", text="t", blocks=[long_section])
    assert err.value.response["error"] == "invalid_blocks"
    [message] = err.value.response["response_metadata"]["messages"]
    assert "3000 characters" in message and "[json-pointer:/blocks/0]" in message
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0NOBODY0", text="t")
    assert err.value.response["error"] == "channel_not_found"


def test_views_open_update_push_publish(slack: FakeSlack, client: WebClient) -> None:
    view = client.views_open(trigger_id="1337.42.abcd", view=MODAL)["view"]
    assert view["id"].startswith("V") and view["hash"]
    assert view["callback_id"] == "request_form"
    assert view["private_metadata"] == MODAL["private_metadata"]
    assert view["blocks"] == MODAL["blocks"]
    assert view["state"] == {"values": {}}
    assert slack.views_opened()[0].body["view"]["title"]["text"] == "New request"

    changed = {**MODAL, "blocks": [{"type": "divider"}]}
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=changed)["view"]
    assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
    with pytest.raises(SlackApiError) as err:
        client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert err.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as err:
        client.views_update(view_id="V404", view=changed)
    assert err.value.response["error"] == "not_found"

    by_external = client.views_open(trigger_id="t2", view={**MODAL, "external_id": "req-1"})["view"]
    assert client.views_update(external_id="req-1", view=changed)["view"]["id"] == by_external["id"]
    assert client.views_push(trigger_id="t3", view=MODAL)["view"]["id"] not in (view["id"], by_external["id"])

    home = {"type": "home", "blocks": [{"type": "divider"}]}
    published = client.views_publish(user_id="U0REQ0001", view=home)["view"]
    assert client.views_publish(user_id="U0REQ0001", view=home)["view"]["id"] == published["id"]


def test_view_validation(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="t", view={**MODAL, "title": {"type": "plain_text", "text": "x" * 25}})
    assert err.value.response["error"] == "invalid_arguments"
    assert "/view/title/text" in err.value.response["response_metadata"]["messages"][0]
    untitled = {k: v for k, v in MODAL.items() if k != "title"}
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="t", view=untitled)
    assert "missing required field: title" in err.value.response["response_metadata"]["messages"][0]
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="t", view={**MODAL, "blocks": [{"type": "divider"}] * 101})
    assert "no more than 100 items" in err.value.response["response_metadata"]["messages"][0]
    with pytest.raises(SlackApiError) as err:
        client.api_call("views.open", json={"view": MODAL})
    assert err.value.response["error"] == "invalid_arguments"


BUTTON = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
HOSTILE_BLOCKS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "5,000-character section": ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 5000}}], "3000"),
    "300-character button": (
        [{"type": "actions", "elements": [{**BUTTON, "text": {"type": "plain_text", "text": "x" * 300}}]}], "75"),
    "unknown block type": ([{"type": "sektion", "text": {"type": "mrkdwn", "text": "hi"}}], "unsupported block"),
    "unknown element type": ([{"type": "actions", "elements": [{"type": "frobnicator", "action_id": "f"}]}],
                             "unsupported element"),
    "unknown property": ([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}, "colour": "red"}],
                         "unknown property 'colour'"),
    "duplicate block ids": ([{"type": "divider", "block_id": "same"}, {"type": "divider", "block_id": "same"}],
                            "duplicate block_id"),
    "button without action_id": (
        [{"type": "actions", "elements": [{k: v for k, v in BUTTON.items() if k != "action_id"}]}], "action_id"),
    "accessory without action_id": ([{"type": "section", "text": {"type": "mrkdwn", "text": "pick"}, "accessory": {
        "type": "static_select", "options": [{"text": {"type": "plain_text", "text": "a"}, "value": "a"}]}}],
        "action_id"),
    "duplicate action ids in a block": ([{"type": "actions", "elements": [BUTTON, BUTTON]}], "duplicate action_id"),
    "51 blocks": ([{"type": "divider"}] * 51, "no more than 50"),
}


@pytest.mark.parametrize("case", list(HOSTILE_BLOCKS))
def test_messages_slack_would_refuse_are_refused(slack: FakeSlack, client: WebClient, case: str) -> None:
    blocks, reason = HOSTILE_BLOCKS[case]
    for post in (client.chat_postMessage, client.chat_postEphemeral):
        with pytest.raises(SlackApiError) as err:
            post(channel="U0REQ0001", user="U0REQ0001", text="fallback", blocks=blocks)
        assert err.value.response.status_code == 200  # Slack answers errors with HTTP 200 and ok=false
        assert err.value.response["error"] == "invalid_blocks"
        assert reason in " ".join(err.value.response["response_metadata"]["messages"])
    assert slack.messages() == []
    posted = client.chat_postMessage(channel="U0REQ0001", text="fallback", blocks=[{"type": "divider"}])
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=posted["channel"], ts=posted["ts"], text="fallback", blocks=blocks)
    assert err.value.response["error"] == "invalid_blocks"


@pytest.mark.parametrize("case", [c for c in HOSTILE_BLOCKS if c != "51 blocks"])
def test_views_slack_would_refuse_are_refused(slack: FakeSlack, client: WebClient, case: str) -> None:
    blocks, reason = HOSTILE_BLOCKS[case]
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="t", view={**MODAL, "blocks": blocks})
    assert err.value.response["error"] == "invalid_arguments"
    assert reason in " ".join(err.value.response["response_metadata"]["messages"])
    with pytest.raises(SlackApiError) as err:
        client.views_publish(user_id="U0REQ0001", view={"type": "home", "blocks": blocks})
    assert err.value.response["error"] == "invalid_arguments"
    assert slack.views() == {}


def test_valid_block_kit_passes_the_same_checks(client: WebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Hello"}},
        {"type": "section", "block_id": "a", "text": {"type": "mrkdwn", "text": "x" * 3000},
         "accessory": {**BUTTON, "url": "https://example.com", "style": "primary"}},
        {"type": "actions", "block_id": "b", "elements": [BUTTON, {**BUTTON, "action_id": "other", "value": "7"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "small print"}]},
        {"type": "input", "block_id": "c", "label": {"type": "plain_text", "text": "Name"},
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": 150}},
    ]
    assert client.chat_postMessage(channel="U0REQ0001", text="x" * 40_000, blocks=blocks[:4])["ok"]
    assert client.views_open(trigger_id="t", view={**MODAL, "blocks": blocks})["ok"]


def test_text_over_slacks_limit_is_msg_too_long(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0REQ0001", text="x" * 40_001)
    assert (err.value.response.status_code, err.value.response["error"]) == (200, "msg_too_long")
    posted = client.chat_postMessage(channel="U0REQ0001", text="short")
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=posted["channel"], ts=posted["ts"], text="x" * 40_001)
    assert err.value.response["error"] == "msg_too_long"
    assert [m["text"] for m in slack.messages()] == ["short"]


def test_posts_only_where_the_bot_is_a_member(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0NOWHERE", text="hi")
    assert (err.value.response.status_code, err.value.response["error"]) == (200, "channel_not_found")

    slack.add_channel("C0LNDTEAM", name="lnd-team", bot_member=False)
    for call in (lambda: client.chat_postMessage(channel="C0LNDTEAM", text="hi"),
                 lambda: client.chat_postEphemeral(channel="C0LNDTEAM", user="U0REQ0001", text="hi"),
                 lambda: client.conversations_history(channel="C0LNDTEAM")):
        with pytest.raises(SlackApiError) as err:
            call()
        assert err.value.response["error"] == "not_in_channel"

    slack.invite_bot("C0LNDTEAM")
    posted = client.chat_postMessage(channel="C0LNDTEAM", text="hi")
    assert posted["channel"] == "C0LNDTEAM" and slack.messages("C0LNDTEAM")[0]["text"] == "hi"
    slack.remove_bot("C0LNDTEAM")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0LNDTEAM", text="again")
    assert err.value.response["error"] == "not_in_channel"

    # A DM, by user id or by the id conversations.open gave, needs no invitation.
    dm = client.conversations_open(users="U0REQ0001")["channel"]["id"]
    assert client.chat_postMessage(channel=dm, text="dm")["channel"] == dm
    assert client.chat_postMessage(channel="U0REQ0001", text="dm")["channel"] == dm


def test_rate_limit_honoured_by_slack_sdk_retry_handler(slack: FakeSlack) -> None:
    client = WebClient(
        base_url=slack.url, token="xoxb-t", retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    response = client.chat_postMessage(channel="U0REQ0001", text="hi")
    assert response["ok"] is True
    assert time.monotonic() - started >= 1.0  # slept for Retry-After
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, first.fault, first.response["error"]) == (429, "status=429", "ratelimited")
    assert (second.status, second.fault) == (200, None)
    assert len(slack.messages()) == 1


def test_server_error_raises_slack_api_error(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=500)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0REQ0001", text="hi")
    assert err.value.response.status_code == 500
    assert slack.messages() == []
    assert client.chat_postMessage(channel="U0REQ0001", text="hi")["ok"] is True  # fault consumed


def test_dropped_response_is_a_connection_error(slack: FakeSlack) -> None:
    no_retry = WebClient(base_url=slack.url, token="xoxb-t", retry_handlers=[])
    slack.fail_next("chat.postMessage", drop=True)
    with pytest.raises(CONNECTION_ERRORS):
        no_retry.chat_postMessage(channel="U0REQ0001", text="hi")
    [call] = slack.calls_to("chat.postMessage")
    assert (call.fault, call.status) == ("drop", None)

    # slack_sdk's ConnectionErrorRetryHandler (on by default) retries once; after_effect shows the duplicate.
    slack.reset()
    slack.add_user("U0REQ0001")
    slack.fail_next("chat.postMessage", drop=True, after_effect=True)
    quick_retry = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0.0))
    retrying = WebClient(base_url=slack.url, token="xoxb-t", retry_handlers=[quick_retry])
    retrying.chat_postMessage(channel="U0REQ0001", text="hi")
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slack.messages()) == 2


def test_a_hold_keeps_matching_calls_unanswered_until_released(slack: FakeSlack, client: WebClient) -> None:
    import threading

    answers: list[Any] = []
    with slack.hold("chat.postMessage") as held:
        sender = threading.Thread(target=lambda: answers.append(client.chat_postMessage(channel="U0REQ0001", text="x")))
        sender.start()
        held.wait_for(1)
        assert client.auth_test()["ok"] is True  # other methods are not held
        assert held.waiting == 1 and not answers and not slack.messages()  # recorded, not answered, no effect
        [call] = slack.calls_to("chat.postMessage")
        assert not call.done
    sender.join(timeout=5)  # leaving the block released it: the real answer, with its effect
    assert answers and answers[0]["ok"] is True and len(slack.messages()) == 1
    with slack.hold("chat.postMessage") as again:
        again.release()
        assert client.chat_postMessage(channel="U0REQ0001", text="y")["ok"] is True  # a released hold holds nothing


def test_delay_slows_the_answer_and_can_trip_client_timeouts(slack: FakeSlack) -> None:
    slack.fail_next("auth.test", delay=0.3)
    started = time.monotonic()
    assert WebClient(base_url=slack.url, token="xoxb-t").auth_test()["ok"] is True
    assert time.monotonic() - started >= 0.3

    slack.fail_next("auth.test", delay=0.6)
    impatient = WebClient(base_url=slack.url, token="xoxb-t", timeout=0.2, retry_handlers=[])
    with pytest.raises(CONNECTION_ERRORS):
        impatient.auth_test()
    assert slack.wait_for("auth.test", count=2)[1].fault == "delay=0.6"


def test_fault_times_and_callable_match(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next(lambda c: c.api_method == "users.info", body={"ok": False, "error": "ratelimited"}, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError):
            client.users_info(user="U0REQ0001")
    assert client.users_info(user="U0REQ0001")["ok"] is True
    assert slack.pending_faults() == 0


def test_wait_for_times_out_with_recorded_calls(slack: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"(?s)chat\.postMessage.*auth\.test"):
        slack.wait_for("chat.postMessage", timeout=0.1)


# ---------------------------------------------------------------------- FakeGitLab


def test_create_issue_returns_increasing_iids(fake_gitlab: FakeGitLab, project: Project) -> None:
    first = project.issues.create(
        {"title": "Course: Python", "description": "Body", "labels": ["kind::new_content", "triage"]}
    )
    second = project.issues.create({"title": "Second"})
    assert (first.iid, second.iid) == (1, 2)
    assert first.id != first.iid and second.id == first.id + 1
    assert first.state == "opened"
    assert first.labels == ["kind::new_content", "triage"]
    assert first.web_url == f"{fake_gitlab.url}/learning-development/general/-/issues/1"
    assert first.references["full"] == "learning-development/general#1"
    assert first.author["username"] == "learnbot"
    [call, _] = fake_gitlab.calls_matching(("POST", r"/issues$"))
    assert call.body["title"] == "Course: Python"
    assert call.headers["Content-Type"].startswith("application/json")
    assert [i["iid"] for i in fake_gitlab.issues()] == [1, 2]


def test_project_by_id_or_path_and_unknown(fake_gitlab: FakeGitLab, gl: gitlab.Gitlab) -> None:
    by_path = gl.projects.get("learning-development/general")
    assert gl.projects.get(by_path.id).path_with_namespace == "learning-development/general"
    with pytest.raises(GitlabGetError) as err:
        gl.projects.get("nope/nothing")
    assert err.value.response_code == 404
    assert fake_gitlab.calls[-1].response == {"message": "404 Project Not Found"}


def test_description_templates_as_python_gitlab_reads_them(fake_gitlab: FakeGitLab, project: Project) -> None:
    fake_gitlab.add_issue_template("new_pathway", "## Intake\n/label ~x\n")
    found = project.issue_templates.get("new_pathway")
    assert found.name == "new_pathway" and found.content == "## Intake\n/label ~x\n"
    assert fake_gitlab.calls[-1].path.endswith("/templates/issues/new_pathway")
    with pytest.raises(GitlabGetError) as err:
        project.issue_templates.get("live_learning")
    assert err.value.response_code == 404
    assert fake_gitlab.calls[-1].response == {"message": "404 Template Not Found"}


def test_search_by_description_substring(project: Project) -> None:
    project.issues.create({"title": "A", "description": "intro\n<!-- learnbot-request: r-42 -->"})
    project.issues.create({"title": "B", "description": "other <!-- learnbot-request: r-43 -->"})
    found = search(project, "learnbot-request: r-42", "description")
    assert [i.title for i in found] == ["A"]
    assert [i.title for i in search(project, "LEARNBOT-REQUEST", "description")] == ["B", "A"]
    assert search(project, "r-42", "title") == []
    assert [i.title for i in project.issues.list(iids=[2])] == ["B"]


def test_update_issue_with_put(fake_gitlab: FakeGitLab, project: Project) -> None:
    issue = project.issues.create({"title": "Old", "labels": "a"})
    issue.title = "New"
    issue.labels = ["a", "b"]
    issue.save()
    assert fake_gitlab.issue(1)["title"] == "New"
    assert fake_gitlab.issue(1)["labels"] == ["a", "b"]
    issue.state_event = "close"
    issue.save()
    assert issue.state == "closed" and issue.closed_at
    assert [i.iid for i in project.issues.list(state="closed")] == [1]
    assert project.issues.list(state="opened") == []
    assert len(fake_gitlab.calls_matching(("PUT", r"/issues/1$"))) == 2


def test_wrong_token_is_401(fake_gitlab: FakeGitLab) -> None:
    intruder = gitlab.Gitlab(url=fake_gitlab.url, private_token="glpat-wrong")
    with pytest.raises(GitlabAuthenticationError) as err:
        intruder.projects.get("learning-development/general")
    assert err.value.response_code == 401
    assert fake_gitlab.calls[-1].response == {"message": "401 Unauthorized"}


def test_validation_errors(fake_gitlab: FakeGitLab, gl: gitlab.Gitlab, project: Project) -> None:
    with pytest.raises(GitlabCreateError) as err:
        project.issues.create({"title": "x" * 256})
    assert err.value.response_code == 400
    assert fake_gitlab.calls[-1].response == {"message": {"title": ["is too long (maximum is 255 characters)"]}}
    with pytest.raises(GitlabCreateError):
        project.issues.create({"title": " "})
    assert fake_gitlab.calls[-1].response == {"message": {"title": ["can't be blank"]}}
    with pytest.raises(gitlab.GitlabHttpError) as http_err:
        gl.http_post(f"/projects/{project.id}/issues", post_data={"description": "no title"})
    assert http_err.value.response_code == 400
    with pytest.raises(GitlabCreateError):
        project.issues.create({"title": "t", "description": "x" * 1_048_577})
    with pytest.raises(GitlabCreateError) as err:
        project.issues.create({"title": "t", "labels": ["ok", "l" * 256]})
    assert err.value.response_code == 400
    assert fake_gitlab.calls[-1].response == {"message": {"labels": ["Title is too long (maximum is 255 characters)"]}}
    assert fake_gitlab.labels() == []  # nothing half-made
    assert fake_gitlab.issues() == []
    issue = project.issues.create({"title": "t" * 255, "labels": ["l" * 255]})
    issue.add_labels = "m" * 256
    with pytest.raises(gitlab.GitlabUpdateError):
        issue.save()
    assert fake_gitlab.issue(issue.iid)["labels"] == ["l" * 255]


def test_after_effect_creates_issue_but_client_sees_502(fake_gitlab: FakeGitLab, project: Project) -> None:
    fake_gitlab.fail_next(("POST", r"/projects/[^/]+/issues$"), status=502, after_effect=True)
    with pytest.raises(GitlabCreateError) as err:
        project.issues.create({"title": "Lost answer", "description": "marker <!-- lb:req-7 -->"})
    assert err.value.response_code == 502
    [call] = fake_gitlab.calls_matching(("POST", r"/issues$"))
    assert (call.fault, call.status) == ("after_effect+status=502", 502)
    [found] = search(project, "lb:req-7", "description")
    assert (found.iid, found.title) == (1, "Lost answer")


def test_429_carries_retry_after_as_gitlab_sends_it(fake_gitlab: FakeGitLab, project: Project) -> None:
    fake_gitlab.fail_next(("POST", r"/issues$"), status=429, retry_after=120)
    with pytest.raises(GitlabCreateError) as err:
        project.issues.create({"title": "throttled"}, obey_rate_limit=False)
    assert err.value.response_code == 429
    [call] = fake_gitlab.calls_matching(("POST", r"/issues$"))
    assert (call.status, call.response) == (429, "Retry later\n")  # Rack::Attack's plain-text body
    raw = requests.post(f"{fake_gitlab.url}/api/v4/projects/{project.id}/issues", timeout=5,
                        headers={"PRIVATE-TOKEN": fake_gitlab.token}, json={"title": "x"})
    assert raw.status_code == 201  # the fault was used up
    fake_gitlab.fail_next(("POST", r"/issues$"), status=429, retry_after=120)
    raw = requests.post(f"{fake_gitlab.url}/api/v4/projects/{project.id}/issues", timeout=5,
                        headers={"PRIVATE-TOKEN": fake_gitlab.token}, json={"title": "x"})
    assert (raw.status_code, raw.headers["Retry-After"]) == (429, "120")
    assert fake_gitlab.issues()[0]["title"] == "x" and len(fake_gitlab.issues()) == 1


def test_rate_limit_and_drop_with_python_gitlab(fake_gitlab: FakeGitLab, project: Project) -> None:
    fake_gitlab.fail_next(("POST", r"/issues$"), status=429, retry_after=0)
    assert project.issues.create({"title": "after retry"}).iid == 1
    assert [c.status for c in fake_gitlab.calls_matching(("POST", r"/issues$"))] == [429, 201]

    fake_gitlab.fail_next(("GET", r"/issues/1$"), drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        project.issues.get(1)
    assert project.issues.get(1).title == "after retry"


def test_stop_and_start_keep_the_url_and_cut_pooled_connections() -> None:
    with FakeGitLab() as fake:
        fake.add_project()
        client = gitlab.Gitlab(url=fake.url, private_token=fake.token, timeout=2)
        project = client.projects.get("learning-development/general")
        url = fake.url
        fake.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            project.issues.list()
        fake.start()
        assert fake.url == url
        assert project.issues.list() == []


def test_pagination_headers_and_links(fake_gitlab: FakeGitLab, project: Project) -> None:
    for n in range(3):
        project.issues.create({"title": f"issue {n}"})
    url = f"{fake_gitlab.url}/api/v4/projects/{project.id}/issues"
    page = requests.get(url, params={"per_page": 2}, headers={"PRIVATE-TOKEN": fake_gitlab.token}, timeout=5)
    assert [i["iid"] for i in page.json()] == [3, 2]
    assert (page.headers["X-Total"], page.headers["X-Total-Pages"], page.headers["X-Page"]) == ("3", "2", "1")
    assert (page.headers["X-Next-Page"], page.headers["X-Prev-Page"], page.headers["X-Per-Page"]) == ("2", "", "2")
    assert "page=2" in page.links["next"]["url"]
    assert [i.iid for i in project.issues.list(per_page=2, get_all=True)] == [3, 2, 1]


def test_form_bodies_are_accepted(fake_gitlab: FakeGitLab, project: Project) -> None:
    response = requests.post(
        f"{fake_gitlab.url}/api/v4/projects/learning-development%2Fgeneral/issues",
        data={"title": "form", "labels": "x,y", "confidential": "true", "weight": "3", "due_date": "2030-01-31"},
        headers={"Authorization": f"Bearer {fake_gitlab.token}"},
        timeout=5,
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["labels"], body["confidential"], body["weight"], body["due_date"]) == (
        ["x", "y"],
        True,
        3,
        "2030-01-31",
    )


def test_notes_and_command_only_note(fake_gitlab: FakeGitLab, project: Project) -> None:
    issue = project.issues.create({"title": "Discuss"})
    issue.notes.create({"body": "First comment"})
    assert [n.body for n in issue.notes.list()] == ["First comment"]
    issue.notes.create({"body": "/close"})
    assert fake_gitlab.calls[-1].status == 202
    assert fake_gitlab.issue(1)["state"] == "closed"
    assert [n["body"] for n in fake_gitlab.notes(1)] == ["First comment", "closed"]
    assert fake_gitlab.issue(1)["user_notes_count"] == 1


def test_quick_action_in_description_closes_issue(fake_gitlab: FakeGitLab, project: Project) -> None:
    issue = project.issues.create({"title": "Q", "description": "Plain"})
    issue.description = "Please handle\n/close"
    issue.save()
    assert issue.state == "closed"
    assert issue.description == "Please handle"  # GitLab strips the command line
    assert fake_gitlab.quick_actions_applied(1) == [
        {"command": "close", "arg": "", "source": "description", "applied": True}
    ]
    assert "quick_actions_applied" not in fake_gitlab.issue(1)


@pytest.mark.parametrize(
    "text",
    [
        "Please handle\n\\/close",
        "Please handle `/close`",
        "`/close`",
        "```\n/close\n```",
        "> quoted\n/close",
        ">>>\n/close\n>>>",
        "<!--\n/close\n-->",
        "- item\n/close",
        "    /close",
        "/closed is not a command",
    ],
)
def test_neutralised_text_never_triggers_a_quick_action(fake_gitlab: FakeGitLab, project: Project, text: str) -> None:
    issue = project.issues.create({"title": "Q", "description": "Plain"})
    issue.description = text
    issue.save()
    assert issue.state == "opened"
    assert issue.description == text
    assert fake_gitlab.quick_actions_applied(1) == []


def test_quick_actions_on_create_follow_gitlab_availability(fake_gitlab: FakeGitLab, project: Project) -> None:
    fake_gitlab.add_labels("urgent", "needs review")
    fake_gitlab.add_user("grace")
    description = 'Body\n/close\n/label ~urgent ~"needs review" ~missing\n/assign @grace\n/due 2030-02-01\n/weight 5'
    issue = project.issues.create({"title": "Q", "description": description})
    assert issue.description == "Body"
    assert issue.state == "opened"  # /close needs a saved issue, so it is stripped but not applied
    assert issue.labels == ["needs review", "urgent"]
    assert [a["username"] for a in issue.assignees] == ["grace"]
    assert (issue.due_date, issue.weight) == ("2030-02-01", 5)
    applied = {q["command"]: q["applied"] for q in fake_gitlab.quick_actions_applied(1)}
    assert applied == {"close": False, "label": True, "assign": True, "due": True, "weight": True}


def test_more_quick_actions_on_update(fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.create_issue("Seeded", labels="a,b")
    fake_gitlab.update_issue(1, description="x\n/unlabel ~a\n/title Renamed\n/lock\n/confidential")
    issue = fake_gitlab.issue(1)
    assert (issue["labels"], issue["title"], issue["discussion_locked"], issue["confidential"]) == (
        ["b"],
        "Renamed",
        True,
        True,
    )
    fake_gitlab.close_issue(1)
    fake_gitlab.update_issue(1, description="y\n/reopen")
    assert fake_gitlab.issue(1)["state"] == "opened"
    assert fake_gitlab.calls == []  # helpers touch state without HTTP


# ---------------------------------------------------------------------- extractor details


@pytest.mark.parametrize(
    ("text", "cleaned", "commands"),
    [
        ("hello\n/close\nworld", "hello\nworld", [Command("close")]),
        ('/label ~a ~"b c"', "", [Command("label", '~a ~"b c"')]),
        ("/CLOSE", "", [Command("close")]),
        ("> quote\n\n/close", "> quote", [Command("close")]),
        ("- item\n\n/close", "- item", [Command("close")]),
        ("/close\n---", "/close\n---", []),  # a setext heading, not a paragraph
        ("a `b\n/close\n` c", "a `b\n/close\n` c", []),  # inline code spans lines
        ("/shrug ok", "ok ¯\\＿(ツ)＿/¯", [Command("shrug", "ok")]),
    ],
)
def test_extractor_cases(text: str, cleaned: str, commands: list[Command]) -> None:
    assert extract_commands(text) == (cleaned, commands)


# ---------------------------------------------------------------------- decisions (issue 10)


def test_usergroup_members_and_unknown_group(slack: FakeSlack, client: WebClient) -> None:
    slack.add_usergroup("S0TEAM", ["U0A", "U0B"])
    assert client.usergroups_users_list(usergroup="S0TEAM")["users"] == ["U0A", "U0B"]
    with pytest.raises(SlackApiError) as exc:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert exc.value.response["error"] == "no_such_subteam"


def test_a_scoped_label_replaces_its_scope_and_users_are_found_by_name(project: Project,
                                                                       fake_gitlab: FakeGitLab) -> None:
    issue = project.issues.create({"title": "Scoped", "labels": "ld-status::new,learnbot"})
    project.issues.update(issue.iid, {"add_labels": "ld-status::accepted"})
    assert sorted(project.issues.get(issue.iid).labels) == ["ld-status::accepted", "learnbot"]
    # Nested scopes: the scope is everything before the last "::".
    project.issues.update(issue.iid, {"add_labels": "a::b::c"})
    project.issues.update(issue.iid, {"add_labels": "a::b::d"})
    assert "a::b::c" not in project.issues.get(issue.iid).labels
    fake_gitlab.add_user("lena", user_id=901)
    gl = project.manager.gitlab
    assert [u.id for u in gl.users.list(username="Lena")] == [901]
    assert gl.users.list(username="nobody") == []


def test_each_method_needs_its_scope_and_history_the_scope_of_the_conversations_type(slack: FakeSlack,
                                                                                      client: WebClient) -> None:
    slack.add_channel("C0SECRET", name="secret", private=True)
    slack.add_channel("G0OLDPRIV", name="old-private")
    client.chat_postMessage(channel="C0SECRET", text="hi")
    slack.scopes = [s for s in slack.scopes if s not in ("groups:history", "users:read")]
    assert client.conversations_history(channel="C0GENERAL")["ok"]  # public: channels:history
    assert client.conversations_history(channel="D0REQ0001")["ok"]  # a DM: im:history
    for channel in ("C0SECRET", "G0OLDPRIV"):
        with pytest.raises(SlackApiError) as refused:
            client.conversations_history(channel=channel)
        assert refused.value.response.data == {"ok": False, "error": "missing_scope", "needed": "groups:history",
                                               "provided": ",".join(slack.scopes)}
    with pytest.raises(SlackApiError) as refused:
        client.users_info(user="U0REQ0001")
    assert refused.value.response["needed"] == "users:read"
    assert client.views_publish(user_id="U0REQ0001", view={"type": "home", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]})["ok"]  # no scope needed
    slack.scopes = []
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0GENERAL", text="hi")
    assert refused.value.response["needed"] == "chat:write" and refused.value.response["provided"] == ""
    assert client.auth_test()["ok"]


# ---------------------------------------------------------------------- Slack: rate limits and users.list


def test_a_burst_past_a_tier_gets_429_with_retry_after_and_is_not_carried_out(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.url, token="xoxb-t", retry_handlers=[])
    for _ in range(20):  # users.list is Tier 2: 20 a minute
        assert client.users_list(limit=1)["ok"] is True
    with pytest.raises(SlackApiError) as err:
        client.users_list(limit=1)
    refused = err.value.response
    assert (refused.status_code, refused.data) == (429, {"ok": False, "error": "ratelimited"})
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.users_info(user="U0REQ0001")["ok"] is True  # another method has its own count


def test_post_message_is_limited_per_channel_with_a_short_burst(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.url, token="xoxb-t", retry_handlers=[])
    slack.add_user("U0GRACE01")
    for i in range(5):
        client.chat_postMessage(channel="U0REQ0001" if i % 2 else "D0REQ0001", text=f"burst {i}")  # one DM
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="U0REQ0001", text="one too many")
    assert err.value.response.status_code == 429 and 1 <= int(err.value.response.headers["Retry-After"]) <= 5
    assert client.chat_postMessage(channel="U0GRACE01", text="another DM goes")["ok"] is True
    assert [m["text"] for m in slack.messages("U0REQ0001")] == [f"burst {i}" for i in range(5)]


def test_rate_limits_can_be_scaled_or_set_per_test(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.url, token="xoxb-t", retry_handlers=[])
    slack.set_rate_limit("auth.test", (2, 60.0, False))
    client.auth_test()
    client.auth_test()
    with pytest.raises(SlackApiError):
        client.auth_test()
    slack.set_rate_limit("auth.test")  # no limits at all
    for _ in range(5):
        client.auth_test()
    slack.reset()  # back to Slack's numbers, counts forgotten
    assert slack.rate_limits["auth.test"] == ((100, 60.0, False),)
    with FakeSlack(rate_scale=10) as roomy:
        roomy.add_user("U0REQ0001")
        burst = WebClient(base_url=roomy.url, token="xoxb-t", retry_handlers=[])
        for i in range(30):
            burst.chat_postMessage(channel="U0REQ0001", text=str(i))
        assert len(roomy.messages()) == 30


def test_users_list_pages_by_cursor_as_slack_documents(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.url, token="xoxb-t")
    for i in range(4):
        slack.add_user(f"U1PERSON{i}", tz="Asia/Tokyo")
    slack.add_user("B0HELPER1", is_bot=True)
    first = client.users_list(limit=2)
    assert [m["id"] for m in first["members"]] == ["B0HELPER1", "U0REQ0001"]  # bots too, as Slack lists them
    assert first["members"][1]["tz"] == "Europe/London" and "cache_ts" in first
    seen, cursor = [m["id"] for m in first["members"]], first["response_metadata"]["next_cursor"]
    while cursor:
        page = client.users_list(limit=2, cursor=cursor)
        seen += [m["id"] for m in page["members"]]
        cursor = page["response_metadata"]["next_cursor"]
    assert seen == sorted(slack.users) and len(seen) == 6
    assert len(client.users_list()["members"]) == 6  # no limit: the whole set
    with pytest.raises(SlackApiError) as err:
        client.users_list(limit=2, cursor="bm90IGEgY3Vyc29y")
    assert err.value.response["error"] == "invalid_cursor"
