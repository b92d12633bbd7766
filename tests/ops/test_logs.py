"""LEARNBOT_LOG_FORMAT=text|json: one line per event, with its ids; never a token or a request body."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest

from bot.container import Services
from bot.observability import configure_logging, redact
from tests.e2e.test_intake import wait_until
from tests.samples import SampleDates, slack_state


@pytest.fixture
def captured():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buf = io.StringIO()
    yield buf
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def test_json_lines_carry_the_event_fields(captured):
    configure_logging(log_format="json", stream=captured)
    logging.getLogger("bot.test").info("issue filed for request %s", 12,
                                       extra={"event": "issue_filed", "request_id": 12, "slack_user": "U0REQ",
                                              "job_id": 7})
    line = json.loads(captured.getvalue().strip())
    assert line["message"] == "issue filed for request 12" and line["level"] == "info"
    assert (line["event"], line["request_id"], line["slack_user"], line["job_id"]) == ("issue_filed", 12, "U0REQ", 7)
    assert line["time"].endswith("Z")


def test_text_lines_are_for_people(captured):
    configure_logging(log_format="text", stream=captured)
    logging.getLogger("bot.test").warning("reminder sent", extra={"request_id": 3, "slack_user": "U0HOST"})
    assert "WARNING bot.test: reminder sent [request_id=3 slack_user=U0HOST]" in captured.getvalue()


@pytest.mark.parametrize("secret", ["xoxb-1234-5678-abcdefghijkl", "xapp-1-A0-123-abc", "glpat-Zq3xYz_abcdEFGH12",
                                    "xoxp-99-88-77"])
def test_tokens_are_masked_whoever_logs_them(captured, secret):
    configure_logging(log_format="json", stream=captured)
    logging.getLogger("some.library").error("call failed with %s and Authorization: Bearer-%s", secret, secret)
    try:
        raise RuntimeError(f"token={secret}")
    except RuntimeError:
        logging.getLogger("bot").exception("boom")
    assert secret not in captured.getvalue()
    assert secret.split("-")[0] + "-***" in captured.getvalue()


def test_redact_keeps_ordinary_text():
    assert redact("request 12 filed as #7 (https://gitlab.example.com/x/-/issues/7)") == \
        "request 12 filed as #7 (https://gitlab.example.com/x/-/issues/7)"
    assert redact("private_token=abc123 and password: hunter2") == "private_token=*** and password: ***"


def test_a_whole_request_logs_no_token_and_no_request_body(captured, app, gitlab, env):
    configure_logging(log_format="json", stream=captured, verbose=True)
    raw = dict(SampleDates.after(Services.clock()).raw("content-review"),
               notes="PRIVATE-ANSWER-4711 only the requester wrote this")
    app.submit("content-review", slack_state(raw))
    wait_until(lambda: gitlab.issues())
    # The lines are written after the rows they report are committed: wait for them, not the issue.
    wait_until(lambda: '"issue_filed"' in captured.getvalue() and '"notice_sent"' in captured.getvalue())
    app.command("help")
    logging.getLogger("bot.test").info("settings: %s", app.services.settings)  # pydantic hides SecretStr
    text = captured.getvalue()
    assert text.strip(), "nothing was logged"
    lines = [json.loads(line) for line in text.strip().splitlines()]  # every line is one JSON object
    filed = [ln for ln in lines if ln.get("event") == "issue_filed"]
    assert len(filed) == 1 and filed[0]["slack_user"] == "U0REQ"
    assert isinstance(filed[0]["request_id"], int) and isinstance(filed[0]["job_id"], int)
    for secret in (env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"], env["GITLAB_TOKEN"],
                   env["GITLAB_WEBHOOK_SECRET"], "PRIVATE-ANSWER-4711", "payload=", "learning_outcomes"):
        assert secret not in text, secret


def test_idle_dispatch_passes_say_so_once_not_every_minute(captured, services):
    configure_logging(log_format="text", stream=captured)
    now = services.clock()
    for minute in range(3):
        report = services.dispatcher.run_once(now=now + timedelta(minutes=minute))
        assert report.lines()[-1].strip() == "nothing due"
    assert captured.getvalue().count("nothing due") == 1, captured.getvalue()
    assert captured.getvalue().count("bot.services") == 1, captured.getvalue()
