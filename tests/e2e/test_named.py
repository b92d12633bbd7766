"""Hosts and co-owners (SPEC §15): capped in number, told once that they were named, free to step out."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.store.models import Reminder, Request
from tests.e2e.harness import wait_until
from tests.samples import slack_state

pytestmark = pytest.mark.e2e


def named_dms(slack, user):
    return [m for m in slack.messages(user) if "named you" in m["text"]]


def step_out_button(message):
    for block in message.get("blocks") or []:
        for element in block.get("elements", []):
            if isinstance(element, dict) and element.get("action_id") == "learn.named.step_out":
                return element
    return None


def pending(services, user):
    with services.db.session() as s:
        return list(s.scalars(select(Reminder).where(Reminder.recipient_id == user, Reminder.sent_at.is_(None),
                                                     Reminder.cancelled_at.is_(None))))


def ephemerals(slack, user):
    return [c.body["text"] for c in slack.calls_to("chat.postEphemeral") if c.body.get("user") == user] + [
        m["text"] for m in slack.messages(user) if "step out" in m["text"].lower() and "named you" not in m["text"]]


def test_more_hosts_than_the_catalogue_allows_are_refused_in_the_form(app, services, dates):
    hosts = ["U0REQ", *[f"U0H{i:03d}" for i in range(60)]]  # the 61 hosts that once planned 305 DMs
    resp = app.submit("live-learning", slack_state({**dates.raw("live-learning"), "hosts": hosts}))
    assert resp.json() == {"response_action": "errors",
                           "errors": {"hosts": "Name at most 10 people here (you named 61)."}}
    with services.db.session() as s:
        assert s.scalars(select(Request)).first() is None


def test_each_host_is_told_once_and_only_they_can_step_out(app, slack, gitlab, services, dates):
    raw = {**dates.raw("live-learning"), "hosts": ["U0REQ", "U0HOST", "U0COHOST"]}  # the requester hosts too
    app.submit("live-learning", slack_state(raw))
    [told] = wait_until(lambda: named_dms(slack, "U0HOST"))
    wait_until(lambda: named_dms(slack, "U0COHOST"))
    assert "<@U0REQ> named you as *Host(s)*" in json.dumps(told["blocks"])
    assert named_dms(slack, "U0REQ") == []  # the requester named themselves
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len(named_dms(slack, "U0HOST")) == 1 and len(named_dms(slack, "U0COHOST")) == 1  # once
    button = step_out_button(told)
    assert button is not None and pending(services, "U0HOST")

    for who, why in (("U0STRANGER", "not named on this request"), ("U0REQ", "You made this request")):
        app.block_action("learn.named.step_out", value=button["value"], user=who, message=told)
        wait_until(lambda w=who, y=why: [t for t in ephemerals(slack, w) if y in t])
    assert pending(services, "U0HOST")  # nobody else steps a host out

    app.block_action("learn.named.step_out", value=button["value"], user="U0HOST", message=told)
    wait_until(lambda: "stepped out" in slack.messages("U0HOST")[0]["text"])  # the DM, redrawn in place
    assert step_out_button(slack.messages("U0HOST")[0]) is None
    assert pending(services, "U0HOST") == [] and pending(services, "U0COHOST") and pending(services, "U0REQ")
    wait_until(lambda: [m for m in slack.messages("U0REQ") if "<@U0HOST> stepped out" in m["text"]])
    with services.db.session() as s:
        assert s.scalars(select(Request)).one().answers["hosts"] == ["U0REQ", "U0COHOST"]

    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))  # the note is an owed job
    issue = gitlab.issues()[0]
    notes = [n for n in gitlab.notes(issue["iid"]) if "stepped out" in n["body"]]
    assert len(notes) == 1 and "stepped out** (Host(s)), via learnbot" in notes[0]["body"]
    app.block_action("learn.named.step_out", value=button["value"], user="U0HOST", message=told)
    wait_until(lambda: [t for t in ephemerals(slack, "U0HOST") if "any more" in t])
