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


def test_every_method_the_slack_gateway_calls_has_its_scope():
    """Each Web API method the gateway calls, against the scope table the stand-in Slack enforces."""
    import re

    from tests.standins.slack import HISTORY_SCOPES, METHOD_SCOPES, OPEN_SCOPES

    source = (Path(__file__).parents[2] / "bot" / "gateways" / "slack.py").read_text()
    called = {m.replace("_", ".") for m in re.findall(r"self\.(?:trigger_)?client\.(\w+)\(", source)}
    if "files.upload.v2" in called:  # slack_sdk's helper: the two Web API methods it calls (and a POST of the bytes)
        called = called - {"files.upload.v2"} | {"files.getUploadURLExternal", "files.completeUploadExternal"}
    assert called, "no Web API calls found in the gateway"
    # learnbot reads DMs and the threads and history of public and private channels (a private
    # digest or triage channel is allowed), and opens DMs only.
    needed = {"conversations.history": {HISTORY_SCOPES[t] for t in ("im", "public", "private")},
              "conversations.replies": {HISTORY_SCOPES[t] for t in ("im", "public", "private")},
              "conversations.open": {OPEN_SCOPES["im"]}}
    unknown = called - METHOD_SCOPES.keys() - needed.keys()
    assert not unknown, f"add {unknown} to the stand-in's METHOD_SCOPES (Slack's method reference)"
    for method in called - needed.keys():
        needed[method] = {METHOD_SCOPES[method]} - {None}  # type: ignore[operator]
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    missing = {m: sorted(need - scopes) for m, need in needed.items() if m in called and need - scopes}
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


def test_the_workflow_step_request_ld_support():
    """Issue 18: the custom step's inputs, outputs and the settings a remote (Bolt) function needs."""
    from bot.catalog import load_catalog
    from bot.domain.workflow import CALLBACK_ID, OUTPUTS
    from bot.store.workflow import WorkflowStep  # noqa: F401  (the step's table exists)

    step = MANIFEST["functions"][CALLBACK_ID]
    assert step["title"] == "Request L&D support" and step["description"]
    inputs = step["input_parameters"]
    assert {k: (v["type"], v["is_required"]) for k, v in inputs.items()} == {
        "support_model": ("string", True), "requester": ("slack#/types/user_id", True), "title": ("string", True),
        "details": ("string", False), "needed_by": ("slack#/types/date", False)}
    assert inputs["details"]["hint"]
    assert all(inputs[k]["name"] == k and inputs[k]["title"] for k in inputs)
    assert all(key in inputs["support_model"]["description"] for key in load_catalog().catalog.keys)
    outputs = step["output_parameters"]
    assert tuple(outputs) == OUTPUTS
    assert outputs["first_due"]["type"] == "slack#/types/date" and outputs["issue_url"]["is_required"]
    settings = MANIFEST["settings"]
    assert settings["function_runtime"] == "remote" and settings["org_deploy_enabled"] is True
    assert "function_executed" in settings["event_subscriptions"]["bot_events"]
