"""Crontab day-of-week numbering as cron has it (Sunday 0 or 7), not APScheduler's (Monday 0)."""

from datetime import UTC, datetime, timedelta

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


# --- issue 8: crontab(5)'s OR rule, and expressions that can never fire ------------------------------------

def _fires(expression: str, start: datetime, count: int) -> list[datetime]:
    trigger, out, previous, now = cron_trigger(expression, UTC), [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        out.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return out


def test_day_of_month_and_day_of_week_both_restricted_fire_on_either():
    # crontab(5): "0 9 1 * 1" runs on the 1st of the month AND on every Monday (APScheduler alone: Mondays that
    # are the 1st).
    fires = _fires("0 9 1 * 1", WEDNESDAY, 4)
    assert [f.date().isoformat() for f in fires] == ["2026-11-30", "2026-12-01", "2026-12-07", "2026-12-14"]
    assert [f.strftime("%a") for f in fires] == ["Mon", "Tue", "Mon", "Mon"]


def test_friday_the_13th_means_fridays_and_the_13th_as_in_cron():
    fires = _fires("0 9 13 * 5", WEDNESDAY, 4)
    assert [f.date().isoformat() for f in fires] == ["2026-11-27", "2026-12-04", "2026-12-11", "2026-12-13"]


def test_a_field_starting_with_a_star_is_unrestricted_so_the_other_alone_decides():
    assert [f.date().isoformat() for f in _fires("0 9 13 * *", WEDNESDAY, 1)] == ["2026-12-13"]
    # "*/1" starts with a star: cron ANDs it, so this is every Friday, not every day.
    assert [f.strftime("%a") for f in _fires("0 9 */1 * 5", WEDNESDAY, 3)] == ["Fri", "Fri", "Fri"]


@pytest.mark.parametrize("never", ["0 9 31 2 *", "0 9 30 2 *", "0 9 31 4,6,9,11 *"])
def test_a_cron_that_can_never_fire_is_refused(never):
    with pytest.raises(ValueError, match="never fires"):
        cron_trigger(never, UTC)


def test_leap_day_and_an_or_rescued_date_are_accepted():
    assert _fires("0 9 29 2 *", WEDNESDAY, 1)[0].date().isoformat() == "2028-02-29"
    # 31 February never comes, but with a weekday restricted too cron fires on those weekdays.
    assert _fires("0 9 31 2 1", WEDNESDAY, 1)[0].strftime("%m %a") == "02 Mon"
