"""Typed links over HTTP: a URL anyone types opens only that URL, shows only learnbot's text, and pings nobody.

Every URL field of every support model (read from the catalogue) and of the follow-up form gets links that
would break out of Slack's `<url|text>` syntax: each is refused inline. Links that look alike but are valid
addresses (percent-encoded, with `&` and entities) are accepted; then everything learnbot sends Slack
(triage card, follow-up post, notices, digest, Home) is read as Slack reads mrkdwn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.catalog import FieldSpec, SupportModel, load_catalog
from bot.config import load_settings
from bot.container import Services, build_services
from bot.domain.after_launch import FOLLOW_UP_FIELDS
from bot.store.models import Milestone, Reminder, Request, RequestStatus
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import RunningApp
from tests.e2e.test_after_launch import follow_up_submission
from tests.e2e.test_decisions import wait_until
from tests.e2e.test_home_and_mine import open_home
from tests.mrkdwn import links, mrkdwn_texts, special_tokens
from tests.samples import SampleDates, slack_state

pytestmark = pytest.mark.e2e
TRIAGE, LD_CHANNEL = "C0TRIAGE", "C0LANDD"
CATALOG = load_catalog()
URL_FIELDS = [(m, f) for m in CATALOG.models for f in m.fields if f.type in ("url", "urls")]

# Each would end the link early (a broadcast, a mention) or show a target other than the one it opens.
BREAKOUTS = [
    "https://handbook.gitlab.com/x><!channel>",
    "https://handbook.gitlab.com/x><!here>",
    "https://handbook.gitlab.com/x><@U0ADMIN>",
    "https://handbook.gitlab.com/x|click here",
    "https://handbook.gitlab.com/x|https://handbook.gitlab.com/safe",
    "<https://handbook.gitlab.com/x|handbook.gitlab.com/safe>",
]
# Valid addresses that look like the above: accepted, and they must still open exactly themselves.
LOOKALIKE = "https://handbook.gitlab.com/handbook/x%3E%3C!channel%3E?a=1&b=%7Cclick%20here&c=&lt;!here&gt;"
# Mentions learnbot may write itself in these flows: the requester and the people they named.
NAMED = {"@U0REQ", "@U0HOST", "@U0COHOST", "@U0COOWNER"}




@pytest.fixture
def ld(env, db, slack) -> Iterator[tuple[RunningApp, Services]]:
    """learnbot with a triage channel (the card shows the OKR link) and an L&D channel (follow-ups, digest)."""
    slack.invite_bot(TRIAGE)
    slack.add_channel(LD_CHANNEL, name="lnd-team", bot_member=True)
    services = build_services(load_settings({**env, "LEARNBOT_TRIAGE_CHANNEL": TRIAGE,
                                             "LEARNBOT_DIGEST_CHANNEL": LD_CHANNEL}), gitlab_timeout=2.0)
    app = RunningApp(services, SIGNING_SECRET).start()
    yield app, services
    app.stop()
    services.close()


def _filler(spec: FieldSpec) -> Any:
    """A valid answer for a field the sample answers lack (a creator kit's own fields)."""
    match spec.type:
        case "select" | "yes_no":
            return spec.options[0].value if spec.options else "yes"
        case "multi_select":
            return [spec.options[0].value]
        case "number":
            return str(spec.min_value or 1)
        case "url" | "urls":
            return "https://handbook.gitlab.com/handbook/"
        case "user":
            return "U0HOST"
        case "users":
            return ["U0HOST"]
        case _:
            return "alpha, beta, gamma" if spec.min_items else "Sample"


def answers_showing(model: SupportModel, url_fields: list[FieldSpec], dates: SampleDates, url: str) -> dict:
    """The sample answers of `model`, with the selects set so each of `url_fields` is shown, holding `url`."""
    raw = dates.raw(model.key)
    for spec in url_fields:
        for other, values in (spec.when or {}).items():
            raw[other] = values[0]
    selected = {k: v for k, v in raw.items() if isinstance(v, str)}
    for spec in model.visible_fields(selected):
        if spec.required and raw.get(spec.id) in (None, "", []):
            raw[spec.id] = _filler(spec)
    for spec in url_fields:
        raw[spec.id] = url
    return raw


def requests_filed(services) -> int:
    with services.db.session() as s:
        return s.scalar(select(func.count()).select_from(Request)) or 0


def everything_sent(slack) -> list[tuple[str, str]]:
    """(what, mrkdwn string) for every message, update, ephemeral, view and response learnbot sent Slack."""
    sent = []
    for call in slack.calls:
        if not isinstance(call.body, dict) or call.api_method in ("auth.test", "users.info", "conversations.open",
                                                                   "conversations.history", "conversations.replies",
                                                                   "chat.getPermalink", "usergroups.users.list"):
            continue
        what = call.api_method or call.path
        body = {k: v for k, v in call.body.items() if k not in ("channel", "user", "user_id", "ts", "thread_ts",
                                                                "trigger_id", "view_id", "hash", "token")}
        sent.extend((what, text) for text in mrkdwn_texts(body))
    return sent


def test_links_that_break_out_of_slack_link_syntax_are_refused_inline_in_every_url_field(ld, slack, dates):
    app, services = ld
    assert len(URL_FIELDS) >= 7  # okr_url ×2, handbook_urls ×3, image_url, content_url in the shipped catalogue
    refused = []
    for model, spec in URL_FIELDS:
        for url in BREAKOUTS:
            body = app.submit(model.key, slack_state(answers_showing(model, [spec], dates, url))).json()
            assert body["response_action"] == "errors", (model.key, spec.id, url, body)
            assert spec.id in body["errors"], (model.key, spec.id, url, body["errors"])
            refused.append((model.key, spec.id))
    assert requests_filed(services) == 0
    assert len(refused) == len(URL_FIELDS) * len(BREAKOUTS)
    # The error is plain text in the modal; nothing went anywhere else.
    assert [t for _, t in everything_sent(slack) if special_tokens(t)] == []


def test_lookalike_links_are_accepted_and_every_message_opens_exactly_them(ld, slack, gitlab, dates):
    app, services = ld
    by_model: dict[str, list[FieldSpec]] = {}
    for model, spec in URL_FIELDS:
        by_model.setdefault(model.key, []).append(spec)
    for key, specs in by_model.items():
        before = requests_filed(services)
        body = app.submit(key, slack_state(answers_showing(CATALOG.model(key), specs, dates, LOOKALIKE))).json()
        assert body["response_action"] == "update", (key, body.get("errors"))
        wait_until(lambda n=before: requests_filed(services) > n)
    wait_until(lambda: len(gitlab.issues()) == len(by_model))

    def all_open():  # a new transaction each look: one held open would keep seeing the old rows
        with services.db.session() as s:
            return all(r.status is RequestStatus.OPEN for r in s.scalars(select(Request)))

    wait_until(all_open)
    # The triage cards carry the OKR link of the two models that ask for one.
    with_okr = sum(1 for _, spec in URL_FIELDS if spec.id == "okr_url")

    def okr_links():
        found = [lk for m in slack.messages(TRIAGE) for t in mrkdwn_texts(m["blocks"]) for lk in links(t)
                 if lk.text == "OKR"]
        return found if len(found) >= with_okr else None

    found = wait_until(okr_links)
    assert with_okr >= 2 and all(lk.opens(LOOKALIKE) for lk in found), found

    # The live session's follow-up, with the same look-alike as its recording and handbook page; and the
    # breakouts, refused in that form too.
    with services.db.session() as s:
        session = s.scalars(select(Request).where(Request.support_model == "live-learning")).one()
        step = s.scalars(select(Milestone).where(Milestone.request_id == session.id,
                                                 Milestone.key == "recording")).one()
        due = step.due_on
    services.dispatcher.run_once(now=datetime(due.year, due.month, due.day, 23, 0, tzinfo=UTC) + timedelta(days=1))
    with services.db.session() as s:
        reminder_id = s.scalars(select(Reminder.id).join(Milestone).where(
            Milestone.key == "recording", Reminder.recipient_id == "U0REQ")).first()
    assert reminder_id is not None
    assert {f.id for f in FOLLOW_UP_FIELDS if f.type == "url"} == {"recording_url", "handbook_url"}
    for url in BREAKOUTS:
        bad = follow_up_submission(app, reminder_id, user="U0REQ", attendance="12",
                                   recording=url, handbook=url).json()
        assert bad["response_action"] == "errors" and {"recording_url", "handbook_url"} <= set(bad["errors"]), bad
    good = follow_up_submission(app, reminder_id, user="U0REQ", attendance="12",
                                recording=LOOKALIKE, handbook=LOOKALIKE).json()
    assert good["response_action"] == "update", good.get("errors")
    post = wait_until(lambda: [c for c in slack.accepted("chat.postMessage") if c.body.get("channel") == LD_CHANNEL
                               and "Follow-up" in json.dumps(c.body)])
    shown = [lk for t in mrkdwn_texts(post[0].body["blocks"]) for lk in links(t)]
    assert {lk.text for lk in shown if lk.opens(LOOKALIKE)} == {"watch", "the handbook"}, shown

    # Then the digest and Home, for the requester and for L&D.
    services.digest.post_now(now=services.clock())
    for user in ("U0REQ", "U0ADMIN"):
        open_home(app, user)
        wait_until(lambda u=user: [c for c in slack.calls_to("views.publish") if c.body.get("user_id") == u])
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=1))

    # Read as Slack reads it: no broadcast, no mention of anyone not named, no link to anywhere not typed
    # (or learnbot's own GitLab issues and Slack messages), no link text from the typed URL.
    sent = everything_sent(slack)
    assert len(sent) > 20
    for what, text in sent:
        tokens = set(special_tokens(text))
        assert tokens <= NAMED, (what, tokens - NAMED, text)
        for lk in links(text):
            ours = lk.target.startswith((gitlab.url, "https://slack.com/", slack.url))
            assert ours or lk.opens(LOOKALIKE), (what, lk, text)
            assert "click" not in lk.text and "channel" not in lk.text and "here" not in lk.text.split(), (what, lk)
