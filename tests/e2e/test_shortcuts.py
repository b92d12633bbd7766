"""The message shortcut "Send to L&D" and the global shortcut "New L&D request", over HTTP against the stand-ins."""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.store.models import MessageSource, Request, RequestStatus
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import wait_until
from tests.gitlab_rules import group_mentions, visible
from tests.samples import slack_state

pytestmark = pytest.mark.e2e
CHANNEL = "C0PROJECT"




def a_weekday_ahead(services, days: int = 45) -> date:
    day = services.clock().date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def review_answers(services, notes: str) -> dict:
    return {"title": "Onboarding page", "handbook_urls": "https://handbook.gitlab.com/handbook/people-group/",
            "review_focus": ["handbook-first"], "needed_by": a_weekday_ahead(services).isoformat(), "notes": notes}


def chooser_options(view: dict) -> list[str]:
    select_el = next(b["accessory"] for b in view["blocks"] if b.get("block_id") == "model")
    if "option_groups" in select_el:
        return [o["value"] for g in select_el["option_groups"] for o in g["options"]]
    return [o["value"] for o in select_el["options"]]


def stored_view(slack, view_id: str) -> dict:
    return slack.views()[view_id]


def choose(app, slack, view_id: str, model: str) -> dict:
    """Pick a model in the chooser (as Slack sends it: the current view with its id and hash)."""
    current = stored_view(slack, view_id)
    before = len(slack.calls_to("views.update"))
    app.block_action("learn.model_chosen", selected=model, view=current)
    update = wait_until(lambda: len(slack.calls_to("views.update")) > before and
                        [c for c in slack.calls_to("views.update") if c.body["view"].get("callback_id")
                         == "learn.submit"])
    return update[-1].body["view"]


def prefilled(form: dict, field: str) -> str:
    block = next(b for b in form["blocks"] if b.get("block_id") == field)
    return block["element"].get("initial_value", "")


# --- the message shortcut ----------------------------------------------------------------------


def test_message_shortcut_opens_the_chooser_then_a_prefilled_form_and_files_a_linked_issue(app, slack, gitlab,
                                                                                           services):
    message = slack.post_as_user(CHANNEL, "U0HOST", "Please review our onboarding page, it looks *outdated* "
                                                    "<https://handbook.gitlab.com/handbook/people-group/|here>")
    response_url = slack.response_url()
    with slack.hold("views.open") as opening:
        resp = app.message_shortcut(message, channel=CHANNEL, response_url=response_url)
        assert resp.status_code == 200 and resp.text == ""  # answered while Slack holds the modal's opening
        opening.wait_for(1)  # and the modal is opened with the trigger, straight after the answer
        assert not slack.calls_to("chat.getPermalink")  # nothing else goes before it

    opened = slack.wait_for("views.open")[0]
    chooser = opened.body["view"]
    assert chooser["callback_id"] == "learn.choose_model"
    # The models whose words the message uses come first.
    assert chooser_options(chooser)[0] == "content-review"
    # The link is looked up after the modal is open, and shown by updating it in place (never a late views.open).
    link_update = slack.wait_for(lambda c: c.api_method == "views.update" and "Original message" in json.dumps(
        c.body["view"]))[0]
    permalink_call = slack.calls_to("chat.getPermalink")[0]
    assert permalink_call.received_at > opened.received_at
    assert link_update.body["hash"]  # loses to the person's own choice if they were quicker
    view_id = opened.response["view"]["id"]

    form = choose(app, slack, view_id, "content-review")
    text = prefilled(form, "notes")
    assert text.startswith("Please review our onboarding page, it looks *outdated* here (https://handbook")
    meta = json.loads(form["private_metadata"])
    assert meta["model"] == "content-review" and isinstance(meta["source"], int)

    resp = app.submit("content-review", slack_state(review_answers(services, text)),
                      metadata={"source": meta["source"]})
    assert resp.json()["view"]["title"]["text"] == "Request saved"
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    expected_link = f"https://learnbot-test.slack.com/archives/{CHANNEL}/p{message['ts'].replace('.', '')}"
    assert f"Opened from a Slack message: {expected_link}" in issue["description"]
    # The ephemeral confirmation goes where they clicked, through the interaction's response_url.
    confirmation = wait_until(slack.responses)[0]
    assert confirmation.path == response_url.split(str(slack.port), 1)[1]
    assert confirmation.body["response_type"] == "ephemeral" and "Sent to L&D" in confirmation.body["text"]
    # No thread reply unless the setting says so.
    assert not [c for c in slack.calls_to("chat.postMessage") if c.body.get("thread_ts") == message["ts"]]


def test_text_that_could_ping_or_run_quick_actions_files_a_safe_issue(app, slack, gitlab, services):
    dangerous = ("<!channel> <!here> hey <@U0HOST> look\n/close\n/assign @all\n```\ncode block\n```\n"
                 + "& <not a tag> " + "x" * 40_000)
    message = slack.post_as_user(CHANNEL, "U0HOST", dangerous,
                                 files=[{"id": "F1", "name": "slides.pdf"}],
                                 attachments=[{"fallback": "An unfurled page", "text": "Unfurled text"}])
    app.message_shortcut(message, channel=CHANNEL)
    view_id = slack.wait_for("views.open")[0].response["view"]["id"]
    chooser = slack.calls_to("views.open")[0].body["view"]
    assert "<!channel>" not in json.dumps(chooser) and "&lt;!channel&gt;" not in json.dumps(chooser)

    form = choose(app, slack, view_id, "content-review")
    text = prefilled(form, "notes")
    assert len(text) <= 2000 and "x … (cut; the whole message is linked from the issue)\n\n" in text
    assert text.startswith("@channel @here hey @U0HOST look\n/close")
    # Files and attachments: the attachment's text and the files' names come along, after the cut text;
    # the files themselves stay in Slack.
    assert text.endswith("Unfurled text\n\nFiles on the message (they stay in Slack; see the message link): "
                         "slides.pdf")
    with services.db.session() as s:
        assert len(s.scalars(select(MessageSource)).one().text) <= 12_000

    resp = app.submit("content-review", slack_state(review_answers(services, text)),
                      metadata={"source": json.loads(form["private_metadata"])["source"]})
    assert resp.json()["view"]["title"]["text"] == "Request saved"
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    body = issue["description"]
    assert not re.search(r"^/\w+", body, re.MULTILINE)
    assert "<!channel>" not in body and not group_mentions(body) and "@all" in visible(body)
    assert "\\`\\`\\`" in body  # the user's fence cannot swallow the template


def test_a_slow_link_look_up_never_delays_the_modal(app, slack):
    """chat.getPermalink taking longer than a trigger id lives: the modal is already open, and the link
    arrives by views.update on it, never by a late views.open."""
    message = slack.post_as_user(CHANNEL, "U0HOST", "Please review the handbook page")
    with slack.hold("chat.getPermalink") as looking_up:
        app.message_shortcut(message, channel=CHANNEL)
        opened = slack.wait_for("views.open", timeout=10)[0]  # open while the look-up gets no answer
        looking_up.wait_for(1, timeout=10)
        assert not slack.calls_to("views.update")
    update = slack.wait_for(lambda c: c.api_method == "views.update", timeout=10)[0]
    assert update.received_at > opened.received_at and update.body["view_id"] == opened.response["view"]["id"]
    assert len(slack.calls_to("views.open")) == 1


def test_a_message_in_a_channel_the_bot_cannot_see_still_works(app, slack, gitlab, services):
    # Slack sends the text in the payload; chat.getPermalink answers channel_not_found.
    message = {"type": "message", "user": "U0HOST", "ts": "1790000000.000100", "text": "Can we get a course on async?"}
    app.message_shortcut(message, channel="C0PRIVATE")
    view_id = slack.wait_for("views.open")[0].response["view"]["id"]
    slack.wait_for("chat.getPermalink")
    form = choose(app, slack, view_id, "content-review")
    assert prefilled(form, "notes") == "Can we get a course on async?"
    app.submit("content-review", slack_state(review_answers(services, "Can we get a course on async?")),
               metadata={"source": json.loads(form["private_metadata"])["source"]})
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert "Opened from a Slack message: https://slack.com/archives/C0PRIVATE/p1790000000000100" in issue["description"]


def test_thread_reply_on_the_original_message_when_switched_on(env, db, slack, gitlab):
    from bot.config import load_settings
    from bot.container import build_services
    from tests.e2e.harness import RunningApp, wait_until

    services = build_services(load_settings({**env, "LEARNBOT_SHORTCUT_THREAD_REPLY": "true"}), gitlab_timeout=2.0)
    app = RunningApp(services, SIGNING_SECRET).start()
    try:
        message = slack.post_as_user(CHANNEL, "U0HOST", "Review please")
        app.message_shortcut(message, channel=CHANNEL)
        view_id = slack.wait_for("views.open")[0].response["view"]["id"]
        form = choose(app, slack, view_id, "content-review")
        app.submit("content-review", slack_state(review_answers(services, "Review please")),
                   metadata={"source": json.loads(form["private_metadata"])["source"]})
        issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
        reply = wait_until(lambda: [c for c in slack.calls_to("chat.postMessage")
                                    if c.body.get("thread_ts") == message["ts"]])
        assert reply[0].body["channel"] == CHANNEL and issue["web_url"] in reply[0].body["text"]
        # Owed once: a second dispatch pass says nothing more.
        services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
        assert len([c for c in slack.calls_to("chat.postMessage") if c.body.get("thread_ts") == message["ts"]]) == 1
    finally:
        app.stop()
        services.close()


def test_someone_elses_stored_message_cannot_be_used(app, slack, services):
    message = slack.post_as_user(CHANNEL, "U0HOST", "secret plans")
    app.message_shortcut(message, channel=CHANNEL, user="U0REQ")
    slack.wait_for("views.open")
    with services.db.session() as s:
        source_id = s.scalars(select(MessageSource)).one().id
    view = {"id": "V0OTHER", "hash": "h", "private_metadata": json.dumps({"source": source_id})}
    slack._views["V0OTHER"] = {**view, "type": "modal", "external_id": ""}
    app.block_action("learn.model_chosen", selected="content-review", view=view, user="U0STRANGER")
    update = slack.wait_for(lambda c: c.api_method == "views.update" and c.body["view_id"] == "V0OTHER")[0]
    assert "secret plans" not in json.dumps(update.body["view"])


# --- the global shortcut -----------------------------------------------------------------------


def test_global_shortcut_opens_the_chooser_and_the_form_in_the_same_modal(app, slack, gitlab, services):
    resp = app.global_shortcut()
    assert resp.status_code == 200 and resp.text == ""
    opened = slack.wait_for("views.open")[0]
    assert opened.body["view"]["callback_id"] == "learn.choose_model"
    assert chooser_options(opened.body["view"]) == services.catalog.catalog.keys
    view_id = opened.response["view"]["id"]
    form = choose(app, slack, view_id, "new-pathway")
    assert form["callback_id"] == "learn.submit"
    assert json.loads(form["private_metadata"]) == {"model": "new-pathway"}
    assert len(slack.calls_to("views.open")) == 1  # one trigger id, one views.open; the rest is views.update
    slack.wait_for(lambda c: c.api_method == "users.info" and c.body.get("user") == "U0REQ")
    resp = app.submit("content-review", slack_state(review_answers(services, "")))
    assert resp.json()["view"]["title"]["text"] == "Request saved"
    wait_until(lambda: gitlab.issues())
    with services.db.session() as s:
        assert s.scalars(select(Request)).one().status in (RequestStatus.OPEN, RequestStatus.FILING)


@pytest.mark.parametrize("payload", ["message", "global"])
def test_forged_or_stale_shortcuts_get_401_and_open_nothing(app, slack, payload):
    stale = int(time.time()) - 600
    if payload == "message":
        message = slack.post_as_user(CHANNEL, "U0HOST", "hi")
        forged = app.message_shortcut(message, channel=CHANNEL, secret="wrong-secret")
        old = app.message_shortcut(message, channel=CHANNEL, timestamp=stale)
    else:
        forged = app.global_shortcut(secret="wrong-secret")
        old = app.global_shortcut(timestamp=stale)
    assert forged.status_code == 401 and old.status_code == 401
    app.command("help")  # a positive signal that the app is answering
    assert not slack.calls_to("views.open")
