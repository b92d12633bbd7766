"""The text-safety functions on any text: no quick action, no group mention, no Slack mention or link."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog import load_catalog
from bot.config import DEFAULT_HANDBOOK_PREFIXES
from bot.domain.safe_text import gitlab_last_pass, gitlab_user_text, one_line, slack_escape, slack_plain
from bot.domain.validation import check_answers, to_json
from bot.services.issues import compose_issue
from bot.store.models import Request
from tests.gitlab_rules import group_mentions, quick_action_lines, visible
from tests.property.strategies import TRICKY_TEXT, examples
from tests.samples import RAW

# Pieces that have got through before, glued together by hypothesis with arbitrary text between them.
PIECES = ("/", "/close", "/assign @me", "@all", "@here", "@ALL", "@all@all", "é", "`", "``", "```", "~~~", ">>>",
          "\n", "\r", "\r\n", "\v", "\f", "\x85", "\u2028", "\u2029", "\u200b", "\u2060", "\ufeff", "\x00", " ", "\t",
          "<!channel>", "<!here>", "<@U0ADMIN>", "<#C0GENERAL>", "<https://evil|x>", "&", "&amp;", "&lt;", "|", "\\",
          "<!--", "-->", "a", "x@all", "@allison", "@all-hands", "@all.")
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=6) | st.sampled_from(TRICKY_TEXT[:60]),
                   max_size=12).map("".join)
SLACK_SPECIALS = re.compile(r"<[!@#]")
CATALOG = load_catalog()
NOW = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)


@settings(max_examples=examples(300))
@given(hostile)
def test_the_last_pass_alone_leaves_no_quick_action_and_no_group_mention(text):
    safe = gitlab_last_pass(text)
    assert not quick_action_lines(safe), safe
    assert not group_mentions(safe), safe
    assert gitlab_last_pass(safe) == safe  # once is enough: a second pass changes nothing
    # What a reader sees is what was written, but for the backslash before a line's slash.
    assert visible(safe).replace("\\/", "/") == visible(text).replace("\\/", "/")


@settings(max_examples=examples(300))
@given(hostile)
def test_user_text_for_gitlab_holds_no_quick_action_mention_html_or_block_opener(text):
    safe = gitlab_user_text(text)
    assert not quick_action_lines(safe) and not group_mentions(safe)
    assert "<" not in safe and "\r" not in safe
    assert not re.search(r"^[ \t]*(```|~~~|>>>)", safe, re.MULTILINE)


@settings(max_examples=examples(300))
@given(hostile, st.integers(min_value=2, max_value=60))
def test_slack_text_holds_no_mention_or_link_and_no_broken_entity(text, limit):
    for escaped in (slack_escape(text), slack_plain(text, limit)):
        assert not SLACK_SPECIALS.search(escaped) and "<" not in escaped and ">" not in escaped
        assert not re.search(r"&(?!amp;|lt;|gt;)", escaped), escaped
    assert len(slack_plain(text, limit)) <= limit
    unescaped = slack_escape(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == text


@settings(max_examples=examples(200))
@given(hostile, st.integers(min_value=2, max_value=300))
def test_one_line_is_one_line_within_its_limit(text, limit):
    flat = one_line(text, limit)
    assert len(flat) <= limit and flat == flat.strip() and len(flat.splitlines()) <= 1


@settings(max_examples=examples(60))
@given(key=st.sampled_from(CATALOG.catalog.keys), text=hostile, name=hostile)
def test_a_rendered_issue_body_holds_no_quick_action_and_no_group_mention(key, text, name):
    """Hostile text in every free-text field and in the requester's and co-owners' Slack names."""
    model = CATALOG.model(key)
    raw = dict(RAW[key])
    for spec in model.visible_fields(raw):
        if spec.type in ("text", "long_text") and not spec.min_items:
            raw[spec.id] = (text if spec.type == "long_text" else one_line(text, 80)) or "x"
    checked = check_answers(model, raw, today=date(2027, 1, 20), now=NOW, handbook_prefixes=DEFAULT_HANDBOOK_PREFIXES)
    request = Request(support_model=key, requester_id="U0REQ", title="T", answers=to_json(checked.answers),
                      public_id="abc123", created_at=NOW, plan_compressed=False)
    names = dict.fromkeys(("U0REQ", "U0HOST", "U0COHOST", "U0COOWNER"), name)
    body = compose_issue(CATALOG, model, request, names=names, zone=ZoneInfo("America/New_York"),
                         plan=None).description
    assert not quick_action_lines(body), [line for line in quick_action_lines(body)]
    assert not group_mentions(body)
    assert body.count("<!-- learnbot-request:") == 1
