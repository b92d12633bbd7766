"""User text can neither run GitLab quick actions nor ping anyone in Slack."""

import re

import pytest

from bot.domain.safe_text import (
    gitlab_last_pass,
    gitlab_user_text,
    neutralise_quick_actions,
    one_line,
    slack_escape,
    slack_plain,
)
from tests.gitlab_rules import group_mentions, quick_action_lines, visible

# GitLab's extractor: a command is "/" + name at the very start of a line.
QUICK_ACTION = re.compile(r"^/\w+", re.MULTILINE)


def test_every_line_start_slash_is_neutralised():
    text = "/close\nfine line\n  /assign @me\n/label ~urgent\nend /title not at start"
    safe = neutralise_quick_actions(text)
    assert not QUICK_ACTION.search(safe)
    assert "\\/close" in safe and "  \\/assign @me" in safe
    assert "end /title not at start" in safe  # mid-line slashes are left alone


def test_gitlab_text_neutralises_html_fences_and_mass_mentions():
    safe = gitlab_user_text("<!-- learnbot-request:abc -->\n```\n>>>\n@all look\n/close")
    assert "<!--" not in safe  # a user cannot forge the duplicate-detection marker
    assert not re.search(r"^```", safe, re.MULTILINE)
    assert not re.search(r"^>>>", safe, re.MULTILINE)
    assert not group_mentions(safe) and "@all look" in visible(safe)
    assert not QUICK_ACTION.search(safe)


def test_windows_newlines_do_not_hide_a_quick_action():
    assert not QUICK_ACTION.search(gitlab_user_text("hello\r\n/close"))


def test_a_lone_carriage_return_does_not_hide_a_quick_action():
    # GitLab deletes every "\r" before it looks for quick actions, and Markdown ends a line at one.
    for text in ("hello\n\r/close", "hello\r/close", "\r\r  /assign @root"):
        assert not QUICK_ACTION.search(gitlab_user_text(text).replace("\r", ""))
    for template_text in ("intro\n\r/close", "intro\n\r\r  /assign @root"):
        assert not QUICK_ACTION.search(neutralise_quick_actions(template_text).replace("\r", ""))
    assert gitlab_user_text("a\rb") == "a\nb"


def test_slack_escape_stops_mentions_and_links():
    for raw in ("<!channel>", "<!here>", "<@U123ABC>", "<https://evil|click>"):
        escaped = slack_escape(raw)
        assert "<" not in escaped and ">" not in escaped
    assert slack_escape("R&D") == "R&amp;D"


def test_slack_plain_never_splits_an_entity():
    text = "a" * 8 + "&&&&"
    cut = slack_plain(text, 12)
    assert cut.endswith("…") and len(cut) <= 12
    assert not re.search(r"&(?!amp;)", cut)


def test_one_line_flattens_and_cuts():
    assert one_line("a\n b\t c", 100) == "a b c"
    assert len(one_line("x" * 300, 255)) == 255


def test_pipes_cannot_break_a_table_cell():
    assert gitlab_user_text("a | b") == "a \\| b"


@pytest.mark.parametrize("text", ["@all@all", "é@all", "`@all", "`x @all y`", "ü@here", "@all.", "(@ALL)",
                                  "@all\u2028", "<b>@all</b>", "``@all``"])
def test_a_group_mention_glued_to_other_text_is_neutralised_and_still_reads_the_same(text):
    safe = gitlab_user_text(text)
    assert not group_mentions(safe), repr(safe)
    assert "@all" in visible(safe).lower() or "@here" in visible(safe)


@pytest.mark.parametrize("text", ["mail@all.com", "@allison", "@all-hands", "@here_we_go"])
def test_an_address_or_a_longer_name_is_not_a_group_mention_and_is_left_alone(text):
    assert gitlab_user_text(text) == text


@pytest.mark.parametrize("body", ["/\rclose", "intro\n/\rclose", "x\n\u200b/close", "x\n\ufeff /assign @me",
                                  "x\u2028/close", "x\x85/close", "x\v/label ~a", "x\n\x00/close", "x\n/ close"])
def test_the_last_pass_alone_escapes_every_line_start_slash(body):
    """Template text does not go through gitlab_user_text: the last pass must hold without it."""
    safe = gitlab_last_pass(body)
    assert not quick_action_lines(safe), repr(safe)
    assert safe.replace("\\/", "/") == body  # nothing else changed


def test_the_last_pass_neutralises_a_group_mention_in_template_text():
    assert not group_mentions(gitlab_last_pass("Heads up @all: a new pathway"))
