"""LEARNBOT_REPORT_CHANNEL and LEARNBOT_REPORT_CRON are validated for what the code does with them."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_no_channel_and_the_1st_at_nine():
    settings = load_settings({})
    assert settings.learnbot_report_channel is None and settings.learnbot_report_cron == "0 9 1 * *"
    _, warnings = settings.readiness()
    assert any(w.startswith("LEARNBOT_REPORT_CHANNEL is not set: no monthly L&D report") for w in warnings)


@pytest.mark.parametrize(("env", "says"), [
    ({"LEARNBOT_REPORT_CHANNEL": ""}, "LEARNBOT_REPORT_CHANNEL is set but empty"),
    ({"LEARNBOT_REPORT_CHANNEL": "   "}, "LEARNBOT_REPORT_CHANNEL is set but empty"),
    ({"LEARNBOT_REPORT_CHANNEL": "#l-and-d"}, "LEARNBOT_REPORT_CHANNEL must be a channel id like C0123456789"),
    ({"LEARNBOT_REPORT_CRON": "monthly"}, "LEARNBOT_REPORT_CRON is not a 5-field crontab expression"),
    ({"LEARNBOT_REPORT_CRON": "0 9 31 2 *"}, "LEARNBOT_REPORT_CRON"),
])
def test_bad_values_are_refused_naming_the_setting(env, says):
    with pytest.raises(ConfigError, match=says):
        load_settings(env)


def test_a_channel_id_is_accepted_and_stripped():
    settings = load_settings({"LEARNBOT_REPORT_CHANNEL": " C0REPORT ", "LEARNBOT_REPORT_CRON": "30 8 2 * *"})
    assert settings.learnbot_report_channel == "C0REPORT"
    assert not [w for w in settings.readiness()[1] if "LEARNBOT_REPORT_CHANNEL" in w]
