"""When is my turn (§16): the likely week from the queue ahead and the team's closes in the last 90 days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.turns import (
    MIN_FINISHED,
    LikelyWeek,
    Queued,
    Team,
    estimate,
    likely_week,
    monday,
    retell,
    turns_ahead,
)

WED = date(2027, 1, 6)  # a Wednesday; its week starts Monday 4 Jan
NOW = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)


def queue(accepted: int, waitlisted: int) -> list[Queued]:
    return ([Queued(i, waitlisted=False) for i in range(1, accepted + 1)]
            + [Queued(100 + i, waitlisted=True) for i in range(1, waitlisted + 1)])


def test_weeks_start_on_monday_of_the_given_day():
    assert monday(WED) == date(2027, 1, 4)
    assert monday(date(2027, 1, 4)) == date(2027, 1, 4)
    assert monday(date(2027, 1, 10)) == date(2027, 1, 4)  # Sunday belongs to the week before


def test_nothing_ahead_and_a_place_free_is_this_week_even_without_history():
    team = Team(capacity=4, in_progress=2, finished=0)
    week = estimate(queue(0, 1), 101, team, WED)
    assert week == LikelyWeek(date(2027, 1, 4)) and week.text(WED) == "likely this week"


def test_a_request_not_in_the_queue_has_no_estimate():
    assert estimate([], 7, Team(capacity=None, in_progress=0, finished=10), WED) is None


def test_below_the_history_minimum_there_is_no_guess():
    team = Team(capacity=2, in_progress=2, finished=MIN_FINISHED - 1)
    week = estimate(queue(0, 3), 102, team, WED)
    assert week == LikelyWeek(None)
    assert week.text(WED) == "not enough history yet to say when"


def test_steady_throughput_one_a_week_puts_the_third_waiting_three_weeks_out():
    # 90 days, 13 closes: about one a week (p * 90 // 13 days). Full team: place p needs p closes.
    team = Team(capacity=2, in_progress=2, finished=13)
    weeks = [estimate(queue(0, 3), rid, team, WED) for rid in (101, 102, 103)]
    assert [w.week for w in weeks if w] == [date(2027, 1, 11), date(2027, 1, 18), date(2027, 1, 25)]
    assert weeks[2] and weeks[2].text(WED) == "likely the week of 25 Jan"


def test_accepted_not_started_requests_come_first_and_count_as_turns():
    team = Team(capacity=3, in_progress=3, finished=90)  # one a day
    q = queue(3, 1)
    assert [turns_ahead(q, rid, team) for rid in (1, 2, 3, 101)] == [0, 1, 2, 3]
    assert estimate(q, 1, team, WED) == LikelyWeek(monday(WED))  # first accepted: its turn is now


def test_free_places_take_waitlisted_requests_now():
    team = Team(capacity=5, in_progress=3, finished=9)  # two places free
    q = queue(0, 3)
    assert [turns_ahead(q, rid, team) for rid in (101, 102, 103)] == [0, 1, 2]
    assert estimate(q, 101, team, WED) == LikelyWeek(monday(WED))


def test_no_capacity_limit_counts_only_what_is_ahead():
    team = Team(capacity=None, in_progress=40, finished=30)
    assert turns_ahead(queue(0, 2), 102, team) == 1


def test_a_waitlisted_until_date_is_a_floor():
    q = [Queued(1, waitlisted=True, not_before=date(2027, 3, 3))]
    week = estimate(q, 1, Team(capacity=5, in_progress=0, finished=0), WED)
    assert week == LikelyWeek(date(2027, 3, 1)) and week.text(WED) == "likely the week of 1 Mar"


def test_a_week_in_another_year_names_the_year():
    assert likely_week(10, 10, date(2027, 12, 1)).text(date(2027, 12, 1)) == "likely the week of 28 Feb 2028"


@pytest.mark.parametrize("today", [date(2027, 1, 4) + timedelta(days=i) for i in range(7)])
def test_the_week_does_not_depend_on_the_weekday_beyond_the_days_counted(today):
    week = likely_week(2, 30, today)  # 2 turns at 1 every 3 days: 6 days on
    assert week.week == monday(today + timedelta(days=6)) and week.week and week.week.weekday() == 0


def test_told_again_only_when_the_week_moves_a_week_or_more_and_not_twice_a_week():
    told = date(2027, 1, 18)
    later = NOW + timedelta(days=8)
    assert retell(told_week=told, told_at=NOW, now_week=LikelyWeek(date(2027, 1, 25)), now=later, today=later.date())
    assert retell(told_week=told, told_at=NOW, now_week=LikelyWeek(date(2027, 1, 11)), now=later, today=later.date())
    assert not retell(told_week=told, told_at=NOW, now_week=LikelyWeek(told), now=later, today=later.date())
    assert not retell(told_week=told, told_at=NOW, now_week=LikelyWeek(date(2027, 1, 25)),
                      now=NOW + timedelta(days=6), today=WED + timedelta(days=6))  # at most once a week
    # No guess: silent.
    assert not retell(told_week=told, told_at=NOW, now_week=LikelyWeek(None), now=later, today=later.date())
    assert retell(told_week=None, told_at=NOW, now_week=LikelyWeek(told), now=later, today=later.date())  # history came
    # Never told: only the baseline is kept.
    assert not retell(told_week=None, told_at=None, now_week=LikelyWeek(told), now=later, today=later.date())


def test_a_turn_that_has_come_is_not_told_again_each_week_while_it_waits():
    later = NOW + timedelta(days=14)
    this_week = monday(later.date())
    assert not retell(told_week=monday(WED), told_at=NOW, now_week=LikelyWeek(this_week), now=later,
                      today=later.date())
    # …but a turn pushed later than a week that has come is news.
    assert retell(told_week=monday(WED), told_at=NOW, now_week=LikelyWeek(this_week + timedelta(days=21)),
                  now=later, today=later.date())
    # …and good news is told: from weeks away to this week.
    assert retell(told_week=this_week + timedelta(days=28), told_at=NOW, now_week=LikelyWeek(this_week), now=later,
                  today=later.date())


def test_the_moved_dm_escapes_the_title_and_is_valid_block_kit():
    from slack_sdk.models.blocks import Block

    from bot.messages.turns import likely_week_moved

    text, blocks = likely_week_moved(title="<!channel> *Onboarding* & <http://x|y>", url=None,
                                     likely=LikelyWeek(date(2027, 2, 1)), was=date(2027, 1, 18), today=WED)
    body = " ".join(b["text"]["text"] for b in blocks if "text" in b) + text
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body and "<http://x" not in body
    assert "likely the week of 1 Feb" in blocks[0]["text"]["text"] and "it was the week of 18 Jan" in body
    assert all(Block.parse(b).to_dict() for b in blocks)
