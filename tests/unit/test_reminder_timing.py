"""Reminders are due at the reminder hour in each recipient's own zone, DST included."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.catalog import load_catalog
from bot.domain.reminders import EARLIEST_ZONE, OpenStep, due_moment, replan, snoozed_until

PATHWAY = load_catalog().model("new-pathway").plan


@pytest.mark.parametrize("zone,expected_utc", [
    ("UTC", datetime(2027, 1, 13, 9, 0, tzinfo=UTC)),
    ("America/Los_Angeles", datetime(2027, 1, 13, 17, 0, tzinfo=UTC)),  # west of UTC: later in UTC
    ("Asia/Tokyo", datetime(2027, 1, 13, 0, 0, tzinfo=UTC)),  # east of UTC: earlier in UTC
    ("Asia/Kolkata", datetime(2027, 1, 13, 3, 30, tzinfo=UTC)),
    ("Pacific/Kiritimati", datetime(2027, 1, 12, 19, 0, tzinfo=UTC)),  # UTC+14: the previous UTC day
])
def test_nine_local_in_each_zone(zone, expected_utc):
    assert due_moment(date(2027, 1, 13), 9, ZoneInfo(zone)) == expected_utc


def test_dst_change_weeks_keep_nine_local():
    berlin = ZoneInfo("Europe/Berlin")
    # The Monday before and after the spring change (2027-03-28).
    assert due_moment(date(2027, 3, 22), 9, berlin) == datetime(2027, 3, 22, 8, 0, tzinfo=UTC)
    assert due_moment(date(2027, 3, 29), 9, berlin) == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    ny = ZoneInfo("America/New_York")  # autumn change 2027-11-07
    assert due_moment(date(2027, 11, 5), 9, ny) == datetime(2027, 11, 5, 13, 0, tzinfo=UTC)
    assert due_moment(date(2027, 11, 8), 9, ny) == datetime(2027, 11, 8, 14, 0, tzinfo=UTC)


def test_an_hour_skipped_by_dst_still_gives_a_moment():
    ny = ZoneInfo("America/New_York")  # 02:00 does not exist on 2027-03-14
    assert due_moment(date(2027, 3, 14), 2, ny) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)


def test_earliest_zone_is_never_later_than_any_real_zone():
    day = date(2027, 6, 1)
    earliest = due_moment(day, 9, EARLIEST_ZONE)
    for zone in ("Pacific/Kiritimati", "Asia/Tokyo", "UTC", "America/Los_Angeles", "Pacific/Pago_Pago"):
        assert earliest <= due_moment(day, 9, ZoneInfo(zone))


def test_snooze():
    now = datetime(2027, 1, 13, 9, 5, tzinfo=UTC)
    assert snoozed_until(now, "day") == datetime(2027, 1, 14, 9, 5, tzinfo=UTC)
    assert snoozed_until(now, "week") == datetime(2027, 1, 20, 9, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown snooze"):
        snoozed_until(now, "year")


def test_replan_moves_open_steps_and_keeps_done_ones():
    steps = [OpenStep("open-issue", date(2027, 1, 20), True), OpenStep("collaborate", date(2027, 2, 3), True),
             OpenStep("first-upload", date(2027, 2, 17), False), OpenStep("launch", date(2027, 3, 3), False)]
    moved = {r.key: r for r in replan(PATHWAY, steps, date(2027, 3, 17), today=date(2027, 1, 25))}
    assert set(moved) == {"first-upload", "launch"}
    assert moved["first-upload"].due_on == date(2027, 3, 3) and moved["launch"].due_on == date(2027, 3, 17)


def test_replan_to_an_earlier_launch_pulls_late_steps_to_today():
    steps = [OpenStep("collaborate", date(2027, 2, 3), False), OpenStep("launch", date(2027, 3, 3), False)]
    moved = {r.key: r for r in replan(PATHWAY, steps, date(2027, 2, 12), today=date(2027, 2, 1))}
    assert moved["collaborate"].due_on == date(2027, 2, 1) and moved["collaborate"].pulled_forward
    assert moved["launch"].due_on == date(2027, 2, 12) and not moved["launch"].pulled_forward
