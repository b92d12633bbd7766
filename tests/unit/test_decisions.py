"""Decision rules and their Block Kit: routing by audience, who may decide, labels, capacity, the waitlist."""

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.catalog import load_catalog
from bot.domain import decisions as rules
from bot.domain.decisions import Capacity, Route, State, Verb
from bot.messages import decisions as messages
from bot.messages.decisions import RequestCard
from tests.samples import RAW
from tests.unit.test_blocks import assert_valid_message, assert_valid_view

CATALOG = load_catalog()
NOW = datetime(2030, 6, 12, 9, 0, tzinfo=UTC)
LD = Route(scope="ld", team="L&D", lxp=False, capacity=8)
PARTNERS = Route(scope="lxp:partners", team="Partner Enablement", lxp=True, usergroup="S0PARTNERS",
                 channel="C0PARTNERS")


def mrkdwn(blocks) -> list[str]:
    out = []
    for b in blocks:
        for t in [b.get("text"), *(b.get("fields") or []), *(b.get("elements") or [])]:
            if isinstance(t, dict) and t.get("type") == "mrkdwn":
                out.append(t["text"])
    return out


def card(**changes) -> RequestCard:
    base = dict(request_id=7, version=3, title="<!here> Merge request etiquette", model_name="New content",
                requester="U0REQ", route=LD, state="new", capacity=Capacity(6, 8),
                url="https://gitlab.example/x/-/issues/4", iid=4, business_impact="High", okr_url="https://okr/1",
                impacted="1200", score=80, dates=[("Needed by", date(2030, 9, 2))])
    return RequestCard(**{**base, **changes})


def test_an_upload_is_decided_by_the_team_of_its_audience_everything_else_by_ld():
    upload = CATALOG.model("upload")
    r = rules.route(upload, RAW["upload"], ld_capacity=8)
    assert (r.scope, r.team, r.lxp) == ("lxp:partners", "Partner Enablement", True)
    ld = rules.route(CATALOG.model("new-content"), RAW["new-content"], ld_capacity=8)
    assert (ld.scope, ld.lxp, ld.capacity) == ("ld", False, 8)


def test_who_may_decide():
    assert rules.may_decide("U0ADMIN", PARTNERS, admins={"U0ADMIN"})
    assert rules.may_decide("U0P", PARTNERS, admins=set(), group_members=["U0P"])
    assert not rules.may_decide("U0P", LD, admins=set(), group_members=["U0P"])  # no group: admins only
    assert not rules.may_decide("U0X", PARTNERS, admins={"U0ADMIN"}, group_members=["U0P"])


def test_no_one_decides_their_own_request_unless_they_are_the_only_decider():
    owners = ["U0REQ", "U0COOWNER"]
    assert rules.deciding_own("U0REQ", owners, LD, admins={"U0REQ", "U0ADMIN"})
    assert rules.deciding_own("U0COOWNER", owners, LD, admins={"U0COOWNER", "U0ADMIN"})  # named on it
    assert not rules.deciding_own("U0REQ", owners, LD, admins={"U0REQ"})  # the only decider decides
    assert not rules.deciding_own("U0ADMIN", owners, LD, admins={"U0REQ", "U0ADMIN"})  # not theirs
    # An approving team's member who is the only one in it: the L&D admins can still decide.
    assert rules.deciding_own("U0P", ["U0P"], PARTNERS, admins={"U0ADMIN"}, group_members=["U0P"])
    assert not rules.deciding_own("U0P", ["U0P"], PARTNERS, admins=set(), group_members=["U0P"])
    # The admin alone in L&D, with a team that can decide: the team decides.
    assert rules.deciding_own("U0ADMIN", ["U0ADMIN"], PARTNERS, admins={"U0ADMIN"}, group_members=["U0P"])
    assert not rules.deciding_own("U0ADMIN", ["U0ADMIN"], LD, admins={"U0ADMIN"}, group_members=["U0P"])


def test_the_deciders_see_which_answer_chose_their_team():
    r = rules.route(CATALOG.model("upload"), RAW["upload"], ld_capacity=8)
    assert r.chosen_by == ("Who is contributing?", "Partners")
    _, blocks = messages.deciders_message(card(route=r))
    assert any("answered “Partners” to “Who is contributing?”" in t for t in mrkdwn(blocks))
    assert rules.route(CATALOG.model("new-content"), RAW["new-content"], ld_capacity=8).chosen_by is None


def test_buttons_follow_the_state():
    assert rules.verbs(LD, "new") == rules.LD_VERBS
    assert Verb.WAITLIST not in rules.verbs(LD, "waitlisted")
    assert rules.verbs(PARTNERS, "changes-requested") == rules.LXP_VERBS
    assert rules.verbs(LD, "accepted") == () and rules.verbs(LD, "declined") == ()


def test_status_labels_are_scoped_and_read_back():
    assert rules.status_label(LD, State.DECLINED) == "ld-status::declined"
    assert rules.status_label(PARTNERS, State.APPROVED) == "lxp::approved"
    assert rules.scope_of("a::b::c") == "a::b" and rules.scope_of("plain") is None
    assert rules.state_in_labels(LD, ["learnbot", "ld-status::waitlisted"]) is State.WAITLISTED
    assert rules.state_in_labels(LD, ["ld-status::bogus"]) is None
    assert rules.state_in_labels(PARTNERS, ["ld-status::accepted"]) is None


def test_capacity_waitlist_and_age():
    assert Capacity(6, 8).text() == "6 of 8 in progress" and not Capacity(6, 8).full
    assert Capacity(8, 8).full and Capacity(3, None).text() == "3 in progress" and not Capacity(99, None).full
    assert rules.waitlist_place([5, 9, 2], 2) == 3 and rules.waitlist_place([5], 1) is None
    assert not rules.overdue_for_decision(NOW - timedelta(days=4, hours=23), 5, NOW)
    assert rules.overdue_for_decision(NOW - timedelta(days=5), 5, NOW)
    assert not rules.overdue_for_decision(NOW - timedelta(days=50), None, NOW)
    assert rules.decision_text("new", NOW - timedelta(days=6), NOW) == "waiting for a decision, 6 days"
    assert rules.decision_text("waitlisted", NOW) == "waitlisted"


@pytest.mark.parametrize("state", [s.value for s in State])
@pytest.mark.parametrize("route", [LD, PARTNERS])
def test_deciders_message_fits_block_kit_and_escapes_user_text(state, route):
    text, blocks = messages.deciders_message(card(state=state, route=route, decided_by="U0ADMIN", decided_at=NOW,
                                              reason="<!channel> & " + "x" * 5000, waitlist_place=2))
    assert_valid_message(blocks)
    dumped = str(blocks)
    # mrkdwn is where a ping would fire; the header is plain_text, shown as typed.
    assert "<!here>" not in text + str(mrkdwn(blocks)) and "<!channel>" not in dumped
    assert "&lt;!channel&gt;" in dumped
    assert "6 of 8 in progress" in dumped and "1200" in dumped and "80" in dumped


def test_every_decision_modal_and_the_reply_modal_fit_block_kit():
    for verb in Verb:
        view = messages.decision_modal(card(capacity=Capacity(8, 8)), verb, gitlab_username="lena")
        assert_valid_view(view)
        text_block = next(b for b in view["blocks"] if b.get("block_id") == "text")
        assert text_block["optional"] is (verb not in rules.TEXT_REQUIRED)
    accept = messages.decision_modal(card(capacity=Capacity(8, 8)), Verb.ACCEPT)
    assert any(b.get("block_id") == "confirm" for b in accept["blocks"])
    assert_valid_view(messages.reply_modal(request_id=1, version=2, title="t", question="q" * 3000))


@pytest.mark.parametrize("state", [s.value for s in State])
def test_requester_notice_fits_and_offers_reply_only_when_asked(state):
    text, blocks = messages.requester_notice(title="<@U0BOSS> title", url=None, state=state, decider="U0ADMIN",
                                           reason="why " * 800, request_id=1, version=2, waitlist_place=1)
    assert_valid_message(blocks)
    assert "<@U0BOSS>" not in text + str(blocks)
    assert ("learn.decide.reply" in str(blocks)) is (state in ("needs-info", "changes-requested"))


def test_history_lines_quote_text_safely():
    line = messages.history_line(kind="answered", state="new", actor="U0REQ", text="<!channel>\nok")
    assert "<!channel>" not in line and line.startswith(":speech_balloon: <@U0REQ> answered")
