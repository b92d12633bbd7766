"""Public holidays move reminders to the working day before; the country comes from the time zone or a setting."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from bot.domain.holidays import (
    reminder_day,
    working_day_after,
    working_day_on_or_before,
    zone_countries,
)
from bot.domain.settings import check_settings
from bot.services.calendar import HolidayCalendar, zone_table

# Fixed holiday sets, as a calendar would give them (the rules take a calendar; they do not know one).
THAI_SONGKRAN_2027 = {date(2027, 4, 13), date(2027, 4, 14), date(2027, 4, 15)}
US_JULY_4_OBSERVED_2027 = {date(2027, 7, 5)}  # a Monday


def in_(days):
    return lambda d: d in days


def test_a_day_that_is_a_holiday_moves_to_the_working_day_before():
    assert working_day_on_or_before(date(2027, 4, 13), in_(THAI_SONGKRAN_2027)) == date(2027, 4, 12)
    # Three holidays in a row: back to before the first.
    assert working_day_on_or_before(date(2027, 4, 15), in_(THAI_SONGKRAN_2027)) == date(2027, 4, 12)


def test_a_monday_holiday_goes_back_over_the_weekend_to_friday():
    assert working_day_on_or_before(date(2027, 7, 5), in_(US_JULY_4_OBSERVED_2027)) == date(2027, 7, 2)


def test_a_working_day_stays_and_weekends_still_move_without_holidays():
    assert working_day_on_or_before(date(2027, 4, 13)) == date(2027, 4, 13)
    assert working_day_on_or_before(date(2027, 4, 17)) == date(2027, 4, 16)  # Saturday → Friday


def test_a_calendar_that_marks_everything_falls_back_to_weekends_only():
    assert working_day_on_or_before(date(2027, 4, 17), lambda d: True) == date(2027, 4, 16)


def test_leave_holds_reminders_until_the_first_working_day_back():
    # Paused through Friday 2027-04-09: a reminder on Wednesday the 7th comes on Monday the 12th.
    assert reminder_day(date(2027, 4, 7), paused_through=date(2027, 4, 9)) == date(2027, 4, 12)
    # ... and skips a holiday on the day back.
    assert working_day_after(date(2027, 4, 12), in_(THAI_SONGKRAN_2027)) == date(2027, 4, 16)
    # A reminder after the leave is not touched.
    assert reminder_day(date(2027, 4, 20), paused_through=date(2027, 4, 9)) == date(2027, 4, 20)


def test_a_leave_stored_through_the_end_of_the_calendar_holds_reminders_without_overflowing():
    # Stored before dates were bounded: 9999-12-31 counts as five years after the reminder's day.
    held = reminder_day(date(2027, 4, 7), paused_through=date(9999, 12, 31))
    assert held == working_day_after(date(2032, 4, 7))
    assert reminder_day(date(9999, 12, 20), paused_through=date(9999, 12, 31)) < date.max


ZONE_TAB = ["# comment", "TH\t+1345+10031\tAsia/Bangkok", "DE\t+5230+01322\tEurope/Berlin\tmost of Germany",
            "CH\t+4723+00832\tEurope/Zurich"]
ZONE1970_TAB = ["TH,CX,KH,LA,VN\t+1345+10031\tAsia/Bangkok\tnorth Vietnam",
                "CH,DE,LI\t+4723+00832\tEurope/Zurich\tBüsingen", "XX\t+0000+00000\tEtc/Only1970"]


def test_zone_to_country_uses_the_zones_own_country_and_knows_who_shares_it():
    table = zone_countries(ZONE_TAB, ZONE1970_TAB)
    assert table.country("Asia/Bangkok") == "TH"
    assert table.sharing("Asia/Bangkok") == ("TH", "CX", "KH", "LA", "VN")
    assert table.country("Europe/Zurich") == "CH" and "LI" in table.sharing("Europe/Zurich")
    assert table.country("Etc/Only1970") == "XX"  # only in zone1970.tab: its first country
    assert table.country("UTC") is None and table.country(None) is None


def test_the_shipped_zone_tables_are_found():
    table = zone_table()
    assert table.country("America/New_York") == "US"
    assert table.country("Europe/London") == "GB"
    assert table.country("Asia/Bangkok") == "TH" and "VN" in table.sharing("Asia/Bangkok")


def test_the_holidays_package_gives_the_days_for_three_countries():
    calendar = HolidayCalendar()
    assert calendar.is_holiday_in("TH")(date(2027, 4, 13))
    assert not calendar.is_holiday_in("VN")(date(2027, 4, 13))
    assert calendar.is_holiday_in("US")(date(2027, 7, 5)) and not calendar.is_holiday_in("GB")(date(2027, 7, 5))


def test_no_data_for_a_year_or_country_means_weekends_only_and_is_logged_once(caplog):
    calendar = HolidayCalendar()
    with caplog.at_level(logging.WARNING, logger="bot.services.calendar"):
        assert calendar.days("DE", 1800) is None  # before the package's data for Germany
        assert calendar.days("ZZ", 2027) is None  # no such country
        for _ in range(3):
            assert not calendar.is_holiday_in("DE")(date(1800, 12, 25))
            assert not calendar.is_holiday_in("ZZ")(date(2027, 12, 25))
    warnings = [r for r in caplog.records if "no public holidays" in r.getMessage()]
    assert len(warnings) == 2
    assert reminder_day(date(1800, 12, 25), is_holiday=calendar.is_holiday_in("DE")) == date(1800, 12, 25)


@pytest.mark.parametrize("raw,field,message", [
    ({"country": "Germany"}, "country", "two-letter"),
    ({"country": "QQ"}, "country", "no public-holiday calendar for QQ"),
    ({"hour": "25"}, "hour", "between"),
    ({"paused": "2027-04-01"}, "paused", "in the past"),
    ({"paused": "9999-12-31"}, "paused", "more than 5 years ahead. Pick 2032-04-05 or earlier"),
])
def test_bad_settings_are_refused_with_the_reason(raw, field, message):
    checked = check_settings(raw, countries={"DE", "US", "TH", "VN"}, today=date(2027, 4, 5))
    assert message in checked.errors[field]


def test_good_settings_and_empty_means_default():
    checked = check_settings({"country": " vn ", "hour": "7", "paused": "2027-04-09"},
                             countries={"VN"}, today=date(2027, 4, 5))
    assert not checked.errors
    assert (checked.country, checked.hour, checked.paused_through) == ("VN", 7, date(2027, 4, 9))
    empty = check_settings({"country": "", "hour": "default", "paused": None}, countries=set(), today=date(2027, 4, 5))
    assert (empty.country, empty.hour, empty.paused_through, empty.errors) == (None, None, None, {})
