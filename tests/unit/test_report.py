"""The report's rules (bot/domain/report.py): periods, medians and p90s, and each section from plain rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import report as rules
from bot.domain.report import Period, ReportDateError

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_default_period_is_the_last_full_calendar_month():
    assert rules.last_full_month(date(2026, 12, 1)) == Period(date(2026, 11, 1), date(2026, 11, 30))
    assert rules.last_full_month(date(2026, 3, 31)) == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert rules.last_full_month(date(2027, 1, 15)) == Period(date(2026, 12, 1), date(2026, 12, 31))
    assert rules.period_of(None, None, today=date(2026, 12, 1)).label() == "November 2026"


def test_the_period_before_has_the_same_length_or_is_the_month_before():
    assert Period(date(2026, 11, 1), date(2026, 11, 30)).previous() == Period(date(2026, 10, 1), date(2026, 10, 31))
    assert Period(date(2026, 3, 1), date(2026, 3, 31)).previous() == Period(date(2026, 2, 1), date(2026, 2, 28))
    week = Period(date(2026, 11, 9), date(2026, 11, 15))
    assert week.previous() == Period(date(2026, 11, 2), date(2026, 11, 8)) and week.previous().days == 7


def test_a_period_is_whole_days_in_the_team_time_zone():
    start, end = Period(date(2026, 11, 1), date(2026, 11, 30)).bounds(BERLIN)
    assert start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(("start", "end", "expected"), [
    (date(2026, 11, 5), None, Period(date(2026, 11, 5), date(2026, 12, 1))),
    (None, date(2026, 10, 20), Period(date(2026, 10, 1), date(2026, 10, 20))),
    (date(2026, 11, 5), date(2026, 11, 5), Period(date(2026, 11, 5), date(2026, 11, 5))),
])
def test_one_end_given(start, end, expected):
    assert rules.period_of(start, end, today=date(2026, 12, 1)) == expected


def test_bad_dates_and_from_after_to_are_refused_in_words():
    with pytest.raises(ReportDateError, match="is not a date like"):
        rules.parse_day("2026-13-01", "--from")
    with pytest.raises(ReportDateError, match="--from 2026-11-05 is after --to 2026-11-01"):
        rules.period_of(date(2026, 11, 5), date(2026, 11, 1), today=date(2026, 12, 1))


def test_median_and_nearest_rank_p90():
    assert rules.median([]) is None and rules.p90([]) is None
    assert rules.median([3.0, 1.0, 2.0]) == 2.0
    assert rules.median([1.0, 2.0, 3.0, 10.0]) == 2.5
    values = [float(v) for v in range(1, 11)]  # 1..10: 90% are ≤ 9
    assert rules.p90(values) == 9.0
    assert rules.p90([4.0]) == 4.0


def test_received_by_model_and_audience():
    rows = [rules.Received(1, "new-content", ("Partners", "Customers"), T0),
            rules.Received(2, "new-content", ("Partners",), T0), rules.Received(3, "live-learning", (), T0)]
    assert rules.received(rows) == {"by_model": {"live-learning": 1, "new-content": 2},
                                    "by_audience": {"(none given)": 1, "Customers": 1, "Partners": 2}, "total": 3}


def decision(rid, state, days, *, first=True, within=5, reason=None):
    return rules.DecisionRow(rid, "new-content", state, T0 + timedelta(days=days), reason, T0, first, within)


def test_decisions_counted_with_days_to_the_first_decision_only():
    rows = [decision(1, "accepted", 1), decision(2, "declined", 7, reason="Not our remit"),
            decision(3, "needs-info", 2), decision(3, "waitlisted", 9, first=False),
            decision(4, "approved", 3), decision(5, "changes-requested", 6, within=None)]
    made = rules.decisions(rows)
    assert {k: made[k] for k in rules.DECISIONS} == {"accepted": 2, "waitlisted": 1, "declined": 1, "asked": 2}
    # Days to the first decision of requests 1-5: 1, 7, 2, 3, 6 (request 3's waitlisting is its second).
    assert made["median_days_to_decision"] == 3.0
    assert made["p90_days_to_decision"] == 7.0
    assert made["over_decide_within"] == 1  # request 2 (7 > 5); request 5's model has no decide_within
    assert made["reasons"] == [{"id": 2, "decision": "declined", "reason": "Not our remit"}]


def test_launches_median_from_acceptance_and_on_time():
    rows = [rules.LaunchRow(1, date(2026, 11, 20), datetime(2026, 11, 10, 23, 30, tzinfo=UTC), True),
            rules.LaunchRow(2, date(2026, 11, 25), datetime(2026, 11, 5, 8, 0, tzinfo=UTC), False),
            rules.LaunchRow(3, date(2026, 11, 26), None, True)]
    # Acceptance is a local date: 23:30 UTC on the 10th is the 11th in Berlin (9 days), the other 20 days.
    assert rules.launches(rows, BERLIN) == {"total": 3, "on_time": 2, "median_days_accept_to_launch": 14.5}


def test_milestones_due_and_done_by_their_date_per_model_and_step():
    rows = [rules.StepRow("new-pathway", "collaborate", date(2026, 11, 3), date(2026, 11, 3)),
            rules.StepRow("new-pathway", "collaborate", date(2026, 11, 10), date(2026, 11, 12)),
            rules.StepRow("new-pathway", "launch", date(2026, 11, 24), None),
            rules.StepRow("live-learning", "promote", date(2026, 11, 4), date(2026, 11, 1))]
    got = rules.milestones(rows)
    assert (got["due"], got["done_on_time"]) == (4, 2)
    assert got["by_model"] == {"live-learning": {"due": 1, "done_on_time": 1},
                               "new-pathway": {"due": 3, "done_on_time": 1}}
    assert got["by_step"]["new-pathway"] == {"collaborate": {"due": 2, "done_on_time": 1},
                                             "launch": {"due": 1, "done_on_time": 0}}


def test_capacity_with_waitlist_length_and_oldest_wait():
    end = datetime(2026, 12, 1, tzinfo=UTC)
    teams = [rules.TeamRow("L&D", 8, 5, (end - timedelta(days=12), end - timedelta(days=3))),
             rules.TeamRow("Partner Enablement", None, 0)]
    assert rules.capacity(teams, end=end) == [
        {"team": "L&D", "in_progress": 5, "capacity": 8, "waitlist": 2, "oldest_wait_days": 12.0},
        {"team": "Partner Enablement", "in_progress": 0, "capacity": None, "waitlist": 0, "oldest_wait_days": None}]


def test_weekly_counts_start_on_mondays_in_the_team_zone():
    period = Period(date(2026, 11, 1), date(2026, 11, 30))  # a Sunday to a Monday: six weeks from 26 Oct
    got = [rules.Received(1, "a", (), datetime(2026, 10, 31, 23, 30, tzinfo=UTC)),  # 1 Nov in Berlin
           rules.Received(2, "b", (), datetime(2026, 11, 30, 12, 0, tzinfo=UTC))]
    made = [decision(1, "accepted", 0), decision(2, "new", 0)]
    weekly = rules.weekly(period, BERLIN, got, made)
    assert weekly.weeks[0] == date(2026, 10, 26) and len(weekly.weeks) == 6
    assert weekly.requests == {"a": [1, 0, 0, 0, 0, 0], "b": [0, 0, 0, 0, 0, 1]}
    assert weekly.decisions == {"new-content": [0, 1, 0, 0, 0, 0]}  # a "new" state is no decision


def test_side_by_side_fills_a_model_only_one_period_had_with_zero():
    now = {"from": "x", "received": {"by_model": {"a": 2}, "total": 2}, "decisions": {"median_days_to_decision": None},
           "capacity": [{"team": "L&D", "in_progress": 1}], "similar": [[1, 2]]}
    before = {"received": {"by_model": {"b": 1}, "total": 1}, "decisions": {"median_days_to_decision": 2.0},
              "capacity": [], "similar": []}
    rows = rules.side_by_side({**now, "previous": before})
    assert ("received.by_model.a", 2, 0) in rows and ("received.by_model.b", 0, 1) in rows
    assert ("decisions.median_days_to_decision", None, 2.0) in rows
    assert ("capacity.L&D.in_progress", 1, 0) in rows and ("similar.clusters", 1, 0) in rows
