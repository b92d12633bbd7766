"""A Slack message as form text: readable, never a ping, cut without losing its files; models that fit first."""

from __future__ import annotations

from bot.domain.from_message import cut, fallback_permalink, fit, message_extras, plain_text, rank_models


def test_slack_markup_becomes_plain_words():
    text = ("<!channel> <!here|here> hi <@U123> and <@U456|ada>, see <#C1|general> and "
            "<https://x.example/a?b=1&amp;c=2|the page> or <https://y.example> &lt;b&gt; &amp; "
            "<!subteam^S1|@l-and-d> <!date^1392734382^{date}|Feb 18, 2014>")
    assert plain_text(text) == ("@channel @here hi @U123 and @ada, see #general and "
                                "the page (https://x.example/a?b=1&c=2) or https://y.example <b> & "
                                "@l-and-d Feb 18, 2014")


def test_attachments_and_files_are_named_not_copied():
    extras = message_extras({"attachments": [{"fallback": "fb"}, {"text": "<@U1> said"}, "junk"],
                             "files": [{"name": "a.pdf"}, {"title": "Deck"}]})
    assert extras == "fb\n\n@U1 said\n\nFiles on the message (they stay in Slack; see the message link): a.pdf, Deck"


def test_a_long_text_is_cut_but_what_follows_it_is_kept():
    out = fit("x" * 5000, "Files on the message: a.pdf", 300)
    assert len(out) <= 300 and out.endswith("\n\nFiles on the message: a.pdf") and "(cut;" in out
    assert fit("short", "", 300) == "short"
    assert len(cut("y" * 10, 5)) == 5


def test_models_the_message_mentions_come_first_in_catalogue_order_otherwise():
    models = [("a", ["live", "session"]), ("b", ["review"]), ("c", [])]
    assert rank_models("please REVIEW this", models) == ["b", "a", "c"]
    assert rank_models("a live session to review", models) == ["a", "b", "c"]
    assert rank_models("nothing", models) == ["a", "b", "c"]


def test_a_link_without_getpermalink():
    assert fallback_permalink("C1", "1790000000.000100") == "https://slack.com/archives/C1/p1790000000000100"
