"""The deciders' card's "Similar:" line and its Link as related button (§16): links and teams escaped."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.domain.decisions import Capacity, Route, State
from bot.messages.decisions import RequestCard, SimilarRef, deciders_message, similar_line
from bot.messages.ids import Action


def _card(**changes) -> RequestCard:
    base = dict(request_id=7, version=1, title="Negotiation training", model_name="New content", requester="U0REQ",
                route=Route(scope="ld", team="L&D", lxp=False), state=State.NEW.value, capacity=Capacity(1, 5),
                url="https://gitlab.example.com/ld/-/issues/40", iid=40)
    return RequestCard(**{**base, **changes})


SIMILAR = [SimilarRef(iid=12, url="https://gitlab.example.com/ld/-/issues/12", team="Sales"),
           SimilarRef(iid=31, url="https://gitlab.example.com/ld/-/issues/31?a=1&b=<2>|x", team="<!channel> & Support")]


def test_the_line_links_each_issue_and_names_its_team_escaped():
    line = similar_line(SIMILAR)
    assert line.startswith("*Similar:* <https://gitlab.example.com/ld/-/issues/12|#12> (Sales), <")
    assert "(&lt;!channel&gt; &amp; Support)" in line
    assert "<https://gitlab.example.com/ld/-/issues/31?a=1&amp;b=%3C2%3E%7Cx|#31>" in line  # the URL cannot end early
    assert line.count("<") == 2 and line.count(">") == 2  # two links, nothing else that Slack would read as one


def test_the_card_has_the_line_and_one_button_until_linked():
    _text, blocks = deciders_message(_card(similar=SIMILAR))
    section = next(b for b in blocks if "Similar" in str(b.get("text", {}).get("text", "")))
    assert section["accessory"]["action_id"] == Action.LINK_SIMILAR.value and section["accessory"]["value"] == "7"
    for b in blocks:
        Block.parse(b).to_dict()  # slack_sdk validates every nested limit
    _text, blocks = deciders_message(_card(similar=[SimilarRef(iid=r.iid, url=r.url, team=r.team, linked=True)
                                                    for r in SIMILAR]))
    assert not any("accessory" in b for b in blocks if "Similar" in str(b.get("text", {}).get("text", "")))
    assert any("Linked as related in GitLab" in str(b) for b in blocks)


def test_no_similar_no_line_and_a_closed_card_offers_no_button():
    _text, blocks = deciders_message(_card())
    assert "Similar" not in str(blocks)
    _text, blocks = deciders_message(_card(similar=SIMILAR, closed=True))
    assert "Similar" in str(blocks) and Action.LINK_SIMILAR.value not in str(blocks)
