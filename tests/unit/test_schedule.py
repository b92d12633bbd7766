"""Crontab day-of-week numbering as cron has it (Sunday 0 or 7), not APScheduler's (Monday 0)."""

from datetime import UTC, datetime

import pytest

from bot.domain.schedule import cron_trigger, standard_day_of_week

WEDNESDAY = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize(("field", "names"), [
    ("1", "mon"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("0,6", "sun,sat"),
    ("*/2", "sun,tue,thu,sat"), ("mon-fri", "mon-fri"), ("*", "*"), ("5,7,0", "fri,sun"),
])
def test_day_of_week_fields(field, names):
    assert standard_day_of_week(field) == names


def test_monday_nine_fires_on_monday():
    fire = cron_trigger("0 9 * * 1", UTC).get_next_fire_time(None, WEDNESDAY)
    assert fire == datetime(2026, 11, 30, 9, tzinfo=UTC) and fire.strftime("%A") == "Monday"


def test_weekdays_skip_the_weekend():
    fire = cron_trigger("30 8 * * 1-5", "Europe/Berlin").get_next_fire_time(None, datetime(2026, 11, 28, tzinfo=UTC))
    assert fire.strftime("%A %H:%M") == "Monday 08:30"


@pytest.mark.parametrize("bad", ["0 9 * *", "0 9 * * 8", "0 9 * * 5-2", "61 9 * * 1"])
def test_bad_expressions_are_refused(bad):
    with pytest.raises(ValueError):
        cron_trigger(bad, UTC)
