"""User text can neither run GitLab quick actions nor ping anyone in Slack."""

import re

from bot.domain.safe_text import gitlab_user_text, neutralise_quick_actions, one_line, slack_escape, slack_plain
from tests.gitlab_rules import group_mentions, visible

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
