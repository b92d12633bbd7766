"""FakeSlack's file uploads as slack_sdk's files_upload_v2 makes them: files.getUploadURLExternal, a POST of
the bytes to the URL it hands out, files.completeUploadExternal; scopes, errors and what tests can read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .slack import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # not UTF-8: the bytes travel as they are


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(server: FakeSlack) -> FakeSlack:
    server.reset()
    server.add_user("U0REQ0001", tz="Europe/London", name="ada")
    server.add_channel("C0GENERAL", name="general")
    server.add_channel("C0OUTSIDE", name="outside", bot_member=False)
    return server


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(base_url=slack.url, token="xoxb-test-token", timeout=5)


def test_files_upload_v2_shares_every_file_in_one_message(slack: FakeSlack, client: WebClient) -> None:
    resp = client.files_upload_v2(file_uploads=[
        {"filename": "chart.png", "content": PNG, "title": "Chart", "alt_txt": "Bars per week"},
        {"filename": "report.csv", "content": "a,b\n1,2\n", "title": "CSV"},
    ], channel="C0GENERAL", initial_comment="The report")
    assert [f["title"] for f in resp["files"]] == ["Chart", "CSV"]
    files = slack.uploaded_files("C0GENERAL")
    assert [(f["name"], f["content"], f["alt_txt"]) for f in files] == [
        ("chart.png", PNG, "Bars per week"), ("report.csv", b"a,b\n1,2\n", None)]
    [message] = [m for m in slack.messages("C0GENERAL") if m.get("files")]
    assert message["text"] == "The report" and [f["id"] for f in message["files"]] == [f["id"] for f in files]
    assert [c.api_method for c in slack.calls if c.api_method] == [
        "files.getUploadURLExternal", "files.getUploadURLExternal", "files.completeUploadExternal"]


def test_a_dm_by_user_id_and_a_thread(slack: FakeSlack, client: WebClient) -> None:
    client.files_upload_v2(content="x", filename="a.txt", channel="U0REQ0001")
    assert [f["name"] for f in slack.uploaded_files("U0REQ0001")] == ["a.txt"]
    posted = client.chat_postMessage(channel="C0GENERAL", text="parent")
    client.files_upload_v2(content="y", filename="b.txt", channel="C0GENERAL", thread_ts=posted["ts"])
    assert slack.uploaded_files("C0GENERAL")[0]["thread_ts"] == posted["ts"]
    with pytest.raises(SlackApiError) as err:
        client.files_upload_v2(content="z", filename="c.txt", channel="C0GENERAL", thread_ts="1.000001")
    assert err.value.response["error"] == "thread_not_found"


def test_files_write_is_required(slack: FakeSlack, client: WebClient) -> None:
    slack.scopes.remove("files:write")
    with pytest.raises(SlackApiError) as err:
        client.files_upload_v2(content="x", filename="a.txt", channel="C0GENERAL")
    assert (err.value.response["error"], err.value.response["needed"]) == ("missing_scope", "files:write")
    assert slack.uploaded_files() == []


@pytest.mark.parametrize(("args", "error"), [
    ({"filename": "a.txt", "length": 0}, "missing_argument"),
    ({"filename": "a.txt"}, "invalid_arguments"),
    ({"filename": "a.png", "length": 3, "alt_txt": "x" * 1001}, "alt_txt_too_large"),
])
def test_get_upload_url_refuses_what_slack_refuses(client: WebClient, args, error) -> None:
    with pytest.raises(SlackApiError) as err:
        client.api_call("files.getUploadURLExternal", params=args)
    assert err.value.response["error"] == error


def test_the_upload_url_is_used_once_and_complete_needs_the_bytes(slack: FakeSlack, client: WebClient) -> None:
    got = client.files_getUploadURLExternal(filename="a.txt", length=3)
    with pytest.raises(SlackApiError) as err:  # completed before its bytes arrived
        client.files_completeUploadExternal(files=[{"id": got["file_id"]}], channel_id="C0GENERAL")
    assert err.value.response["error"] == "file_not_found"
    assert requests.post(got["upload_url"], data=b"abc", timeout=5).text == "OK - 3"
    assert requests.post(got["upload_url"], data=b"abc", timeout=5).status_code == 404  # used
    with pytest.raises(SlackApiError) as err:  # the bot is not in that channel
        client.files_completeUploadExternal(files=[{"id": got["file_id"]}], channel_id="C0OUTSIDE")
    assert err.value.response["error"] == "not_in_channel"
    done = client.files_completeUploadExternal(files=[{"id": got["file_id"], "title": "A"}], channel_id="C0GENERAL")
    assert done["files"] == [{"id": got["file_id"], "title": "A"}]
    with pytest.raises(SlackApiError) as err:  # completed once
        client.files_completeUploadExternal(files=[{"id": got["file_id"]}], channel_id="C0GENERAL")
    assert err.value.response["error"] == "file_not_found"
