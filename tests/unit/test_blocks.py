"""Every view and message learnbot builds fits Slack's Block Kit limits (checked by slack_sdk's models)."""

from datetime import date

import pytest

from bot.catalog import load_catalog
from bot.domain.planning import plan_milestones
from bot.messages import forms
from tests.samples import RAW, slack_state
from tests.standins._block_kit import MESSAGE_BLOCK_LIMIT, block_errors, view_errors

CATALOG = load_catalog()


def assert_valid_view(view: dict) -> None:
    # The Slack stand-in's own check: slack_sdk's View and Block models down to every nested element.
    assert view_errors(view) == []


def assert_valid_message(body: list) -> None:
    assert block_errors(body, limit=MESSAGE_BLOCK_LIMIT, pointer="/blocks") == []


def test_the_block_checks_look_inside_blocks():
    """View(**view).validate_json() passes both of these; the checks used here must not."""
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 5000}}
    long_button = {"type": "actions", "elements": [
        {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": "x" * 300}}]}
    for block in (long_section, long_button):
        with pytest.raises(AssertionError):
            assert_valid_view({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [block]})
        with pytest.raises(AssertionError):
            assert_valid_message([block])


@pytest.mark.parametrize("key", CATALOG.catalog.keys)
def test_every_model_modal_is_valid(key):
    model = CATALOG.model(key)
    view = forms.request_modal(model, requester="U0REQ")
    assert_valid_view(view)
    assert view["callback_id"] == "learn.submit"
    ids = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert ids == [f.id for f in model.visible_fields({})]
    required = {b["block_id"] for b in view["blocks"] if b["type"] == "input" and not b["optional"]}
    assert required == {f.id for f in model.visible_fields({}) if f.required}


@pytest.mark.parametrize("kit,extra", [
    ("smartcard", {"level", "tags", "duration_minutes"}),
    ("pathway", {"level", "tags", "badge", "unlock", "image_url"}),
    ("channel", {"image_url", "channel_topics", "provider"}),
    ("carousel", {"carousel_type"}),
    ("group", {"group_visibility", "group_admin"}),
])
def test_upload_form_shows_what_each_creator_kit_needs(kit, extra):
    model = CATALOG.model("upload")
    base = {b["block_id"] for b in forms.request_modal(model, requester="U1")["blocks"] if b["type"] == "input"}
    view = forms.request_modal(model, requester="U1", selected={"content_type": kit})
    assert_valid_view(view)
    shown = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert shown - base == extra
    content_type = next(b for b in view["blocks"] if b.get("block_id") == "content_type")
    assert content_type["dispatch_action"] is True


def test_live_learning_hosts_start_with_the_requester():
    view = forms.request_modal(CATALOG.model("live-learning"), requester="U0REQ")
    hosts = next(b for b in view["blocks"] if b.get("block_id") == "hosts")
    assert hosts["element"]["initial_users"] == ["U0REQ"]


@pytest.mark.parametrize("key", CATALOG.catalog.keys)
def test_read_state_round_trips_every_element_type(key):
    assert forms.read_state(slack_state(RAW[key])) == {k: (v if v != "" else "") for k, v in RAW[key].items()}


def test_help_lists_every_model_with_a_button():
    text, body = forms.help_message(CATALOG)
    assert_valid_message(body)
    buttons = [b["accessory"]["value"] for b in body if b.get("accessory")]
    assert buttons == CATALOG.catalog.keys
    assert "/learn new-pathway" in text


def test_unknown_word_is_escaped_and_gets_a_suggestion():
    _, body = forms.help_message(CATALOG, unknown="<!channel>", suggestion="new-pathway")
    first = body[0]["text"]["text"]
    assert "<!channel>" not in first and "&lt;!channel&gt;" in first
    assert "Did you mean `/learn new-pathway`?" in first


def test_saved_view_shows_the_plan_and_warns_when_compressed():
    plan = plan_milestones(CATALOG.model("new-pathway").plan, date(2027, 3, 3), today=date(2027, 2, 15))
    view = forms.request_saved_view(CATALOG.model("new-pathway"), title="<!here> pathway", plan=plan)
    assert_valid_view(view)
    text = str(view["blocks"])
    assert "&lt;!here&gt;" in text and "<!here>" not in text
    assert "`2027-02-17` First iteration of content upload" in text
    assert ":warning:" in text


def test_long_titles_are_cut_within_limits():
    view = forms.request_saved_view(CATALOG.model("upload"), title="x" * 5000, plan=None)
    assert_valid_view(view)


HOSTILE_URLS = [
    "https://handbook.gitlab.com/x><!channel>",
    "https://handbook.gitlab.com/x><!here>",
    "https://handbook.gitlab.com/x><@U0ADMIN>",
    "https://handbook.gitlab.com/x|click here",
    "https://handbook.gitlab.com/x|<https://evil.example|handbook.gitlab.com>",
    "https://handbook.gitlab.com/a b\n<!channel>\t",
    "https://handbook.gitlab.com/?a=1&b=2&lt;!channel&gt;",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_link_opens_exactly_its_url_and_shows_only_its_text(url):
    from bot.messages.kit import link
    from tests.mrkdwn import links, special_tokens

    text = f"before {link(url, 'OKR')} after"
    assert special_tokens(text) == []
    [only] = links(text)
    assert only.opens(url) and only.text == "OKR"
