"""The channel digest fits Slack's limits at any size, counts what it leaves out, and pings no one by accident."""

import re
from datetime import date

import pytest

from bot.messages.digest import Digest, DigestItem, DigestSection, digest_message
from bot.messages.kit import (
    HEADER_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    NOTIFICATION_TEXT_MAX,
    SECTION_TEXT_MAX,
)
from tests.standins._block_kit import block_errors

ISSUE = "https://gitlab.example.com/ld/requests/-/issues/{}"
MORE = "https://gitlab.example.com/ld/requests/-/issues?label_name[]=triage&state=opened"
MORE_IN_LINK = MORE.replace("&", "&amp;")  # Slack reads &amp; back as & (its escaping rules)
HOSTILE = "<!channel> hi <@U123> <https://evil|x>"
WORST_TITLE = ("&<>" * 85)[:255]  # every character grows on escaping: 255 raw, 1105 escaped
WHEN = date(2027, 3, 3)  # a Wednesday
KEYS = ("new", "triage", "upcoming", "overdue")

# What the builder itself may write between < and >: a well-formed user mention or a link.
BUILDER_TOKEN = re.compile(r"<@[UW][A-Z0-9]+>|<https?://[^\s<>|]+\|([^<>|]*)>")
BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")


def item(i: int = 1, *, title: str | None = None, **kw) -> DigestItem:
    fields = {"url": ISSUE.format(i), "model_name": "Creating a new learning pathway", "requester_id": "U0REQ"}
    fields.update(kw)
    return DigestItem(title=f"Request {i}" if title is None else title, **fields)


def digest(*sections: DigestSection, heading: str = "L&D digest — week of 23 Nov 2026") -> Digest:
    return Digest(heading=heading, sections=list(sections))


def assert_fits_and_safe(text: str, body: list) -> None:
    """Every Block Kit limit a digest can reach, and no control sequence the builder didn't write."""
    assert len(text) <= NOTIFICATION_TEXT_MAX
    assert 1 <= len(body) <= MESSAGE_BLOCKS_MAX
    assert block_errors(body, limit=MESSAGE_BLOCKS_MAX, pointer="/blocks") == []  # slack_sdk's models, nested
    mrkdwn = []
    for b in body:
        if b["type"] == "header":
            assert 1 <= len(b["text"]["text"]) <= HEADER_TEXT_MAX
        elif b["type"] == "section":
            assert 1 <= len(b["text"]["text"]) <= SECTION_TEXT_MAX
            assert not b["text"]["text"].endswith("…") or "more" in b["text"]["text"].rsplit("\n", 1)[-1]
            mrkdwn.append(b["text"]["text"])
        elif b["type"] == "context":
            assert len(b["elements"]) <= 10
            for el in b["elements"]:
                assert len(el["text"]) <= SECTION_TEXT_MAX
                mrkdwn.append(el["text"])
        else:
            raise AssertionError(f"unexpected block {b['type']}")
    for t in [text, *mrkdwn]:
        rest = BUILDER_TOKEN.sub(lambda m: m.group(1) or "", t)  # a link's visible text is checked too
        assert "<" not in rest and ">" not in rest, t
        assert not BARE_AMPERSAND.search(rest), t


def section_body(body: list, title_part: str) -> str:
    return next(b["text"]["text"] for b in body if b["type"] == "section" and title_part in b["text"]["text"])


def entries(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.startswith("• ")]


def more_count(text: str) -> int:
    m = re.search(r"and ([\d,]+) more>?$", text)
    return int(m.group(1).replace(",", "")) if m else 0


def worst_item(i: int) -> DigestItem:
    return item(i, title=WORST_TITLE, model_name=HOSTILE * 10, step=HOSTILE * 10, when=WHEN, score=9.25,
                owners=("U1", "W2", "<!here>", "U3", "U4", "U5", "U6"), url=ISSUE.format(10**12 + i))


# --- limits at any size ----------------------------------------------------------------------


@pytest.mark.parametrize("worst", [False, True], ids=["plain", "worst-case-text"])
@pytest.mark.parametrize("spread", ["one-section", "four-sections"])
@pytest.mark.parametrize("n", [0, 1, 10, 11, 500, 10_000])
def test_every_size_fits_every_limit_and_counts_every_item(n, spread, worst):
    one = worst_item(1) if worst else item(1, when=WHEN, score=7.5, step="Storyboard", owners=("U1",))
    keys = KEYS if spread == "four-sections" else KEYS[:1]
    sections = [DigestSection(k, f":pushpin: {k} {WORST_TITLE if worst else ''}", [one] * n, more_url=MORE)
                for k in keys]
    text, body = digest_message(digest(*sections))
    assert_fits_and_safe(text, body)
    if n == 0:
        assert len(body) == 1
        return
    for b in body[1:]:
        shown = len(entries(b["text"]["text"]))
        assert 1 <= shown <= 10
        assert shown + more_count(b["text"]["text"]) == n


def test_more_than_fifty_sections_still_fit_one_message():
    sections = [DigestSection(f"k{i}", f"Section {i}", [item(i)]) for i in range(120)]
    text, body = digest_message(digest(*sections))
    assert_fits_and_safe(text, body)
    assert len(body) == MESSAGE_BLOCKS_MAX and "Section 47" in body[-2]["text"]["text"]
    assert "and 72 more sections" in body[-1]["elements"][0]["text"]


def test_a_huge_heading_is_cut_to_the_header_limit():
    text, body = digest_message(digest(DigestSection("new", "New", [item()]), heading="L&D " * 200))
    assert_fits_and_safe(text, body)
    assert body[0]["type"] == "header" and body[0]["text"]["text"].endswith("…")


# --- "and N more" ----------------------------------------------------------------------------


@pytest.mark.parametrize("total,shown", [(10, 10), (11, 10), (500, 10)])
def test_a_long_section_shows_per_section_items_then_links_the_rest(total, shown):
    sec = DigestSection("triage", "Waiting for triage", [item(i, score=10 - i / 100) for i in range(total)],
                        more_url=MORE)
    _, body = digest_message(digest(sec))
    text = section_body(body, "Waiting for triage")
    assert [ISSUE.format(i) in line for i, line in enumerate(entries(text))] == [True] * shown
    if total == shown:
        assert "more" not in text
    else:
        assert text.endswith(f"\n…<{MORE_IN_LINK}|and {total - shown} more>")


@pytest.mark.parametrize("total", [10_000, 3])
def test_a_caller_that_loaded_only_the_first_items_passes_the_total(total):
    # The service loads per_section rows and counts the rest in SQL; fewer than loaded is ignored.
    sec = DigestSection("triage", "Triage", [item(i, score=5) for i in range(10)], more_url=MORE, total=total)
    text, body = digest_message(digest(sec))
    assert_fits_and_safe(text, body)
    shown = entries(section_body(body, "Triage"))
    assert len(shown) == 10
    assert more_count(section_body(body, "Triage")) == max(total, 10) - 10
    assert f"{max(total, 10):,} waiting for triage" in text


def test_a_total_without_loaded_items_is_not_an_empty_digest():
    text, body = digest_message(digest(DigestSection("overdue", "Overdue", [], more_url=MORE, total=4)))
    assert section_body(body, "Overdue") == f"*Overdue*\n…<{MORE_IN_LINK}|and 4 more>"
    assert "4 overdue" in text


def test_per_section_is_the_callers_to_choose():
    _, body = digest_message(digest(DigestSection("new", "New", [item(i) for i in range(7)])), per_section=3)
    text = section_body(body, "New")
    assert len(entries(text)) == 3 and text.endswith("\n…and 4 more")


def test_without_more_url_the_rest_is_counted_in_plain_text():
    _, body = digest_message(digest(DigestSection("new", "New", [item(i) for i in range(10_000)])))
    text = section_body(body, "New")
    assert text.endswith("\n…and 9,990 more") and "|and" not in text


def test_huge_escaped_titles_show_fewer_whole_entries_and_count_the_rest():
    items = [item(i, title=WORST_TITLE, when=WHEN) for i in range(10)]
    _, body = digest_message(digest(DigestSection("new", "New", items, more_url=MORE)))
    text = section_body(body, "New")
    lines = entries(text)
    assert 1 <= len(lines) < 10
    assert all(line.endswith("· submitted Wed 3 Mar") for line in lines)  # never cut mid-way
    assert more_count(text) == 10 - len(lines)
    assert len(text) <= SECTION_TEXT_MAX


def test_an_entry_gives_way_when_the_and_n_more_line_would_not_fit():
    # Every title length: some fill a section to a few characters short of the limit.
    for size in range(1, 256):
        items = [item(i, title="a" * size) for i in range(30)]
        _, body = digest_message(digest(DigestSection("new", "New", items, more_url=MORE)), per_section=30)
        text = section_body(body, "New")
        assert len(text) <= SECTION_TEXT_MAX
        assert len(entries(text)) + more_count(text) == 30, size


def test_a_title_longer_than_gitlab_allows_is_cut_whole_characters_not_hidden():
    _, body = digest_message(digest(DigestSection("new", "New", [item(1, title="&" * 5000), item(2)])))
    text = section_body(body, "New")
    first, second = entries(text)
    assert first.startswith(f"• <{ISSUE.format(1)}|" + "&amp;" * 254 + "…> · ")
    assert ISSUE.format(2) in second


def test_a_long_more_url_still_links_the_rest_even_if_an_entry_gives_way():
    long_more = "https://gitlab.example.com/ld/requests/-/issues?search=" + "x" * 340
    items = [worst_item(i) for i in range(5)]
    _, body = digest_message(digest(DigestSection("overdue", "Overdue", items, more_url=long_more)))
    text = section_body(body, "Overdue")
    shown = len(entries(text))
    assert shown >= 1 and len(text) <= SECTION_TEXT_MAX
    assert text.endswith(f"\n…<{long_more}|and {5 - shown} more>")


# --- empty sections --------------------------------------------------------------------------


def test_an_empty_digest_is_one_short_line():
    sections = [DigestSection(k, f"Title {k}", []) for k in KEYS]
    text, body = digest_message(digest(*sections))
    assert_fits_and_safe(text, body)
    assert len(body) == 1
    line = body[0]["text"]["text"]
    assert line == (":sunny: Nothing to report this week: no new requests, nothing waiting for triage, "
                    "no launches coming up and nothing overdue.")
    assert "Title" not in line
    assert "nothing to report" in text


def test_empty_sections_beside_full_ones_take_one_line_with_their_empty_text():
    sections = [DigestSection("new", "New requests", [item()]),
                DigestSection("upcoming", ":rocket: Coming up", [], empty_text="No launches in the next 4 weeks.")]
    _, body = digest_message(digest(*sections))
    assert section_body(body, "Coming up") == "*:rocket: Coming up* — No launches in the next 4 weeks."


# --- what an entry says ----------------------------------------------------------------------


def test_entries_link_their_issue_and_name_requester_model_and_date():
    sec = DigestSection("new", "New", [item(42, title="Onboarding pathway", when=WHEN)])
    _, body = digest_message(digest(sec))
    assert entries(section_body(body, "New")) == [
        f"• <{ISSUE.format(42)}|Onboarding pathway> · Creating a new learning pathway · from <@U0REQ> "
        "· submitted Wed 3 Mar"
    ]


def test_a_request_not_filed_yet_is_shown_without_a_link():
    _, body = digest_message(digest(DigestSection("new", "New", [item(1, title="Draft & co", url=None)])))
    line = entries(section_body(body, "New"))[0]
    assert line.startswith("• *Draft &amp; co* · ") and "http" not in line


@pytest.mark.parametrize("url", ["https://x/y|<!channel>", "https://x/y> <!channel>", "javascript:alert(1)",
                                 "https://x/a b"])
def test_a_url_that_could_break_the_link_is_not_used(url):
    text, body = digest_message(digest(DigestSection("new", "New", [item(1, url=url)], more_url=url)))
    assert_fits_and_safe(text, body)
    assert "<!channel>" not in str(body)


def test_triage_shows_scores_in_the_callers_order():
    items = [item(1, score=9.0), item(2, score=7.5), item(3, score=7.25)]
    _, body = digest_message(digest(DigestSection("triage", "Triage", items)))
    assert [line.split(" · ")[0] for line in entries(section_body(body, "Triage"))] == [
        "• score 9.0", "• score 7.5", "• score 7.2"]


def test_overdue_shows_step_due_date_and_owners():
    sec = DigestSection("overdue", "Overdue", [item(1, step="Storyboard review", when=WHEN, owners=("U1", "U2"))])
    _, body = digest_message(digest(sec))
    line = entries(section_body(body, "Overdue"))[0]
    assert line.endswith(" · from <@U0REQ> · Storyboard review due Wed 3 Mar · owners <@U1>, <@U2>")


def test_upcoming_shows_what_happens_on_which_day():
    sec = DigestSection("upcoming", "Coming up", [item(1, step="Launch date", when=WHEN), item(2, when=WHEN)])
    _, body = digest_message(digest(sec))
    first, second = entries(section_body(body, "Coming up"))
    assert first.endswith(" · from <@U0REQ> · Launch date on Wed 3 Mar")
    assert second.endswith(" · from <@U0REQ> · on Wed 3 Mar")


def test_many_owners_are_counted_not_listed():
    sec = DigestSection("overdue", "Overdue", [item(1, owners=tuple(f"U{i}" for i in range(8)))])
    _, body = digest_message(digest(sec))
    assert entries(section_body(body, "Overdue"))[0].endswith("owners <@U0>, <@U1>, <@U2>, <@U3>, <@U4> and 3 others")


# --- no pings through user text --------------------------------------------------------------


def test_titles_steps_model_names_and_texts_are_escaped():
    hostile = item(1, title=HOSTILE, model_name=HOSTILE, step=HOSTILE)
    sections = [DigestSection("overdue", HOSTILE, [hostile]), DigestSection("new", "New", [], empty_text=HOSTILE)]
    text, body = digest_message(digest(*sections, heading=HOSTILE))
    assert_fits_and_safe(text, body)
    overdue = section_body(body, "hi")
    line = entries(overdue)[0]
    assert body[0]["text"]["type"] == "plain_text"  # the heading: Slack parses no mentions there
    assert "<!channel>" not in str(body[1:]) and "<@U123>" not in str(body[1:])
    assert f"<{ISSUE.format(1)}|&lt;!channel&gt; hi &lt;@U123&gt; &lt;https://evil¦x&gt;>" in line
    assert line.count("&lt;!channel&gt;") == 3  # title, model name, step
    assert overdue.startswith("*&lt;!channel&gt;")
    assert section_body(body, "New").endswith("— &lt;!channel&gt; hi &lt;@U123&gt; &lt;https://evil|x&gt;")


def test_a_pipe_or_angle_bracket_cannot_end_the_issue_link():
    _, body = digest_message(digest(DigestSection("new", "New", [item(7, title="a|b> <c")])))
    assert entries(section_body(body, "New"))[0].startswith(f"• <{ISSUE.format(7)}|a¦b&gt; &lt;c> · ")


def test_newlines_in_user_text_cannot_start_a_new_line():
    _, body = digest_message(digest(DigestSection("new", "New", [item(1, title="a\n• fake\n<!here>")])))
    text = section_body(body, "New")
    assert len(entries(text)) == 1 and "&lt;!here&gt;" in text


@pytest.mark.parametrize("bad", ["<!channel>", "U123\n", "u123", "C0CHANNEL", "U12 3", "", "U" + "1" * 40])
def test_a_malformed_user_id_is_shown_escaped_never_as_a_mention(bad):
    sec = DigestSection("overdue", "Overdue", [item(1, requester_id=bad, owners=(bad, "W0OK"))])
    text, body = digest_message(digest(sec))
    assert_fits_and_safe(text, body)
    line = entries(section_body(body, "Overdue"))[0]
    assert "<@" not in line.replace("<@W0OK>", "")
    assert line.endswith(", <@W0OK>")


# --- notification text and purity ------------------------------------------------------------


def test_notification_text_counts_every_section():
    sections = [DigestSection("new", "New", [item()] * 1), DigestSection("triage", "T", [item()] * 12_345),
                DigestSection("upcoming", "U", []), DigestSection("overdue", "O", [item()] * 2)]
    text, _ = digest_message(digest(*sections))
    assert text == ("L&amp;D digest — week of 23 Nov 2026: 1 new request, 12,345 waiting for triage, "
                    "0 coming up, 2 overdue")


def test_same_digest_same_message():
    sections = [DigestSection(k, k, [worst_item(i) for i in range(30)], more_url=MORE) for k in KEYS]
    d = digest(*sections)
    assert digest_message(d) == digest_message(d)
    assert d == digest(*sections)
