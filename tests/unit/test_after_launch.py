"""After launch, as pure rules and blocks: review dates, what outlives a close, the follow-up form and note."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.catalog import load_catalog
from bot.catalog.schema import Interval
from bot.domain.after_launch import (
    REVIEW_KEY,
    FollowUp,
    add_interval,
    check_follow_up,
    follow_up_note,
    next_review,
    outlives_close,
    with_review,
)
from bot.domain.planning import plan_milestones
from bot.messages import after_launch as blocks
from bot.messages.settings import settings_modal
from bot.messages.shortcuts import chooser_modal
from tests.gitlab_rules import group_mentions, visible

CATALOG = load_catalog()
SIX_MONTHS = Interval(months=6)
PREFIXES = ["https://handbook.gitlab.com/"]
NOW = datetime(2027, 3, 10, 12, tzinfo=UTC)


def test_months_keep_the_day_or_take_the_months_last():
    assert add_interval(date(2027, 3, 10), SIX_MONTHS) == date(2027, 9, 10)
    assert add_interval(date(2027, 8, 31), SIX_MONTHS) == date(2028, 2, 29)  # leap year
    assert add_interval(date(2027, 1, 15), Interval(weeks=2, days=1)) == date(2027, 1, 30)


def test_the_next_review_is_on_a_weekday():
    assert next_review(date(2027, 3, 13), SIX_MONTHS) == date(2027, 9, 13)  # Monday stays
    assert next_review(date(2027, 5, 11), SIX_MONTHS) == date(2027, 11, 11)
    assert next_review(date(2027, 4, 6), Interval(months=6)) == date(2027, 10, 6)
    assert next_review(date(2027, 3, 18), Interval(days=2)) == date(2027, 3, 19)  # Saturday 20th → Friday


def test_a_pathway_plan_ends_with_its_evergreen_review():
    model = CATALOG.model("new-pathway")
    plan = with_review(plan_milestones(model.plan, date(2027, 3, 3), date(2027, 1, 4)), date(2027, 3, 3),
                       model.review_after)
    assert plan.milestones[-1].key == REVIEW_KEY and plan.milestones[-1].due_on == date(2027, 9, 3)
    assert "every 6 months" in plan.milestones[-1].title


def test_only_an_evergreen_review_outlives_an_issue_closed_after_launch():
    launch = date(2027, 3, 3)
    assert outlives_close(REVIEW_KEY, launch, date(2027, 3, 3))
    assert not outlives_close(REVIEW_KEY, launch, date(2027, 3, 2))  # dropped before launch
    assert not outlives_close("launch", launch, date(2027, 4, 1))
    assert not outlives_close(REVIEW_KEY, None, date(2027, 4, 1))


def test_interval_needs_a_length():
    with pytest.raises(ValueError):
        Interval()


@pytest.mark.parametrize("raw,recorded,field,message", [
    ({"attendance": ""}, False, "attendance", "required"),
    ({"attendance": "-3"}, False, "attendance", ""),
    ({"attendance": "10"}, True, "recording_url", "recorded"),
    ({"attendance": "10", "recording_url": "https://v.example.com/1"}, False, "handbook_url", "handbook page"),
    ({"attendance": "10", "recording_url": "https://v.example.com/1", "handbook_url": "https://wiki.example.com/x"},
     False, "handbook_url", "not in the handbook"),
    ({"attendance": "10", "recording_url": "not a link"}, False, "recording_url", "not a web link"),
])
def test_follow_up_answers_are_checked(raw, recorded, field, message):
    checked = check_follow_up(raw, recorded=recorded, handbook_prefixes=PREFIXES, today=NOW.date(), now=NOW)
    assert field in checked.errors and message in checked.errors[field]


def test_an_unrecorded_session_needs_only_its_attendance():
    checked = check_follow_up({"attendance": "12"}, recorded=False, handbook_prefixes=PREFIXES, today=NOW.date(),
                              now=NOW)
    assert not checked.errors and checked.attendance == 12 and checked.recording_url is None


def test_the_follow_up_note_cannot_run_quick_actions_or_ping():
    note = follow_up_note(FollowUp(attendance=5, recording_url="https://v.example.com/1",
                                   handbook_url="https://handbook.gitlab.com/x", notes="/close\n@all thanks|"),
                          who="Ada")
    assert "\n/close" not in note and "\\/close" in note and "\\|" in note
    assert not group_mentions(note) and "@all" in visible(note)


def test_after_launch_blocks_fit_slacks_limits():
    for text, body in (
        blocks.follow_up_message(reminder_id=1, step="Upload", request_title="x" * 400, issue_url="https://g/1"),
        blocks.follow_up_message(reminder_id=1, step="Upload", request_title="<!channel>", issue_url=None, nudge=True),
        blocks.review_message(reminder_id=2, request_title="t", issue_url="https://g/1", interval="6 months"),
        blocks.outcome_message(request_title="t", issue_url=None, what="Done", actor="U1"),
        blocks.ld_follow_up(request_title="t", issue_url="https://g/1", who="U1",
                            answers=FollowUp(attendance=3, recording_url="https://v/1",
                                             handbook_url="https://handbook.gitlab.com/1", notes="n" * 5000)),
        blocks.ld_retire(request_title="t", issue_url=None, who="U1"),
    ):
        assert text and "<!channel>" not in text
        for b in body:
            Block.parse(b).validate_json()
    for view in (blocks.follow_up_modal(reminder_id=1, request_title="t", recorded=True),
                 blocks.follow_up_thanks_view("t"),
                 settings_modal(zone="Asia/Bangkok", zone_country="TH", sharing=("TH", "VN"), country="VN", hour=7,
                                team_hour=9, paused_through=date(2027, 3, 12)),
                 settings_modal(zone=None, zone_country=None, sharing=(), country=None, hour=None, team_hour=9,
                                paused_through=None),
                 chooser_modal(CATALOG.models, source=3, preview="<!here> " + "y" * 5000, permalink="https://s/p1",
                               suggested=2),
                 chooser_modal(CATALOG.models)):
        View(**view).validate_json()
