"""Settings fail at start, naming the setting and how to fix it."""

import pytest

from bot.config import ConfigError, load_settings


def test_defaults():
    s = load_settings({})
    assert s.database_url == "sqlite:///learnbot.db"
    assert s.learnbot_digest_cron == "0 9 * * 1" and s.learnbot_reminder_hour == 9
    assert s.slack_api_url == "https://slack.com/api/"


def test_lists_and_urls_are_normalised():
    s = load_settings({"LEARNBOT_ADMINS": "U01ABC, U02DEF", "SLACK_API_URL": "http://127.0.0.1:9/api",
                       "DATABASE_URL": "postgresql://u@h/db"})
    assert s.learnbot_admins == ["U01ABC", "U02DEF"]
    assert s.slack_api_url.endswith("/api/")
    assert s.database_url == "postgresql+psycopg://u@h/db"


def test_unknown_learnbot_setting_suggests_the_right_name():
    with pytest.raises(ConfigError, match=r"LEARNBOT_REMINDER_HOURS.*did you mean LEARNBOT_REMINDER_HOUR"):
        load_settings({"LEARNBOT_REMINDER_HOURS": "8"})


@pytest.mark.parametrize("env,expected", [
    ({"LEARNBOT_TIMEZONE": "Mars/Olympus"}, "LEARNBOT_TIMEZONE is not an IANA time zone"),
    ({"LEARNBOT_DIGEST_CRON": "every monday"}, "LEARNBOT_DIGEST_CRON is not a 5-field crontab"),
    ({"LEARNBOT_REMINDER_HOUR": "24"}, "LEARNBOT_REMINDER_HOUR"),
    ({"LEARNBOT_ADMINS": "alice"}, "LEARNBOT_ADMINS must be Slack user ids"),
    ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN must be a bot token"),
    ({"LEARNBOT_CATALOG": "/nope.yml"}, "LEARNBOT_CATALOG points to /nope.yml"),
    ({"LEARNBOT_TRIAGE_CHANNEL": "#ld-triage"}, "LEARNBOT_TRIAGE_CHANNEL must be a Slack channel id"),
])
def test_bad_values_are_named(env, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings(env)


def test_require_all_names_every_missing_setting_at_once():
    from bot.config import require_all

    with pytest.raises(ConfigError) as raised:
        require_all(load_settings({"SLACK_BOT_TOKEN": "xoxb-1"}),
                    [("slack_signing_secret", "to verify"), ("slack_bot_token", "to talk"),
                     ("gitlab_token", "to file"), ("gitlab_project", "to know where")])
    lines = str(raised.value).splitlines()
    assert [line.split(" ")[0] for line in lines[:-1]] == ["SLACK_SIGNING_SECRET", "GITLAB_TOKEN", "GITLAB_PROJECT"]
    assert lines[0] == "SLACK_SIGNING_SECRET is not set: it is needed to verify"


@pytest.mark.parametrize("bad", ["#general", "general", "U012ABCDEF", "c0123", "https://acme.slack.com/archives/C1"])
def test_digest_channel_must_be_a_channel_id(bad):
    with pytest.raises(ConfigError) as raised:
        load_settings({"LEARNBOT_DIGEST_CHANNEL": bad})
    message = str(raised.value)
    assert "LEARNBOT_DIGEST_CHANNEL must be a channel id like C0123456789" in message and "Channel ID" in message


@pytest.mark.parametrize("good", ["C0123456789", "G01ABCDEF"])
def test_digest_channel_ids_are_accepted(good):
    assert load_settings({"LEARNBOT_DIGEST_CHANNEL": good}).learnbot_digest_channel == good


def test_a_digest_cron_that_never_fires_is_refused_with_an_example():
    with pytest.raises(ConfigError, match=r"LEARNBOT_DIGEST_CRON '0 9 31 2 \*' never fires.*0 9 \* \* 1"):
        load_settings({"LEARNBOT_DIGEST_CRON": "0 9 31 2 *"})


def test_readiness_names_what_serve_and_worker_need():
    errors, warnings = load_settings({}).readiness()
    assert [e.split(" ")[0] for e in errors] == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITLAB_TOKEN",
                                                 "GITLAB_PROJECT"]
    assert any(w.startswith("GITLAB_WEBHOOK_SECRET") for w in warnings)
    ready = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "GITLAB_TOKEN": "t",
                           "GITLAB_PROJECT": "g/p", "GITLAB_WEBHOOK_SECRET": "s"})
    assert ready.readiness()[0] == []  # Socket Mode needs no signing secret


SECRETS = ("GITLAB_WEBHOOK_SECRET", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "GITLAB_TOKEN", "SLACK_APP_TOKEN")


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_secret_set_but_empty_is_refused_in_one_line_naming_it(name, blank):
    # An unset ${VAR} in compose, or an empty Kubernetes secret key, arrives as "": it is not "unset".
    with pytest.raises(ConfigError) as raised:
        load_settings({name: blank})
    message = str(raised.value)
    assert "\n" not in message
    assert f"{name} is set but empty" in message
    assert [s for s in SECRETS if s in message] == [name]


def test_the_webhook_token_is_never_empty():
    assert load_settings({}).webhook_token() is None
    assert load_settings({"GITLAB_WEBHOOK_SECRET": "s3cret"}).webhook_token() == b"s3cret"
    # However an empty secret got past validation (constructed in code), it opens nothing.
    from pydantic import SecretStr

    forced = load_settings({}).model_copy(update={"gitlab_webhook_secret": SecretStr("")})
    assert forced.webhook_token() is None
