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


# Web API method the gateway calls → the bot scope Slack requires for it (api.slack.com/methods).
SCOPE_OF = {
    "chat_postMessage": "chat:write", "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
    "users_info": "users:read", "conversations_open": "im:write", "conversations_history": "im:history",
    "conversations_replies": "channels:history", "usergroups_users_list": "usergroups:read",
    "views_open": None, "views_update": None, "views_publish": None, "auth_test": None,  # no scope needed
    "chat_getPermalink": None,
}


def test_every_method_the_slack_gateway_calls_has_its_scope():
    import re

    source = (Path(__file__).parents[2] / "bot" / "gateways" / "slack.py").read_text()
    called = set(re.findall(r"self\.client\.(\w+)\(", source))
    assert called, "no Web API calls found in the gateway"
    unknown = called - SCOPE_OF.keys()
    assert not unknown, f"add the scope for {unknown} to SCOPE_OF and manifest.yml"
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    missing = {m: SCOPE_OF[m] for m in called if SCOPE_OF[m] and SCOPE_OF[m] not in scopes}
    assert not missing


def test_usage_hint_names_every_support_model():
    from bot.catalog import load_catalog

    hint = MANIFEST["features"]["slash_commands"][0]["usage_hint"]
    assert all(key in hint for key in load_catalog().catalog.keys)


def test_both_shortcuts_with_their_callback_ids():
    from bot.messages.ids import Callback

    shortcuts = {s["callback_id"]: s for s in MANIFEST["features"]["shortcuts"]}
    assert shortcuts[Callback.FROM_MESSAGE.value]["type"] == "message"
    assert shortcuts[Callback.NEW_REQUEST.value]["type"] == "global"
    assert all(len(s["name"]) <= 24 and len(s["description"]) <= 80 for s in shortcuts.values())
    assert "settings" in MANIFEST["features"]["slash_commands"][0]["usage_hint"]
