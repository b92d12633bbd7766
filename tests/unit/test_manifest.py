"""The Slack app manifest points Slack at the endpoints and scopes learnbot actually uses."""

from pathlib import Path

import yaml

MANIFEST = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())


def test_one_endpoint_for_commands_interactivity_and_events():
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/learn"
    urls = {command["url"], MANIFEST["settings"]["interactivity"]["request_url"],
            MANIFEST["settings"]["event_subscriptions"]["request_url"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")


def test_scopes_cover_the_web_api_methods_called():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read"} <= scopes  # /learn, DMs, users.info (tz)
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_usage_hint_names_every_support_model():
    from bot.catalog import load_catalog

    hint = MANIFEST["features"]["slash_commands"][0]["usage_hint"]
    assert all(key in hint for key in load_catalog().catalog.keys)
