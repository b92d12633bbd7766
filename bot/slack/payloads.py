"""The shape of what Slack sends, checked before Bolt or a listener reads it.

A request that passed the signature check is Slack's, or made with the signing secret; either
way a body that is not the shape Slack documents for its type (no `user`, `actions` not a list,
an id that is a number) is a bad request, answered 400 at the edge, not a KeyError inside Bolt's
context builder or a listener. Only what Bolt and learnbot's listeners read is checked: every
key of an object may be absent unless it is marked required, and unknown keys pass.

Pure: no Bolt, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Key:
    """What one value must be: its JSON types, and for an object its keys, for an array its items."""

    kinds: tuple[type, ...]
    required: bool = False
    null: bool = True  # an optional key may hold null; a required one never does
    keys: Mapping[str, Key] = field(default_factory=dict)
    items: Key | None = None
    non_empty: bool = False
    most: int | None = None  # items an array may hold
    each: Key | None = None  # every value of an object whose keys are not known in advance (block ids)


def _obj(required: bool = False, null: bool = True, each: Key | None = None, **keys: Key) -> Key:
    return Key((dict,), required=required, null=null and not required, keys=keys, each=each)


def _str(required: bool = False) -> Key:
    return Key((str,), required=required, null=not required)


_ID_OR_OBJECT = Key((str, dict), keys={"id": _str(), "team_id": _str(), "enterprise_id": _str()})

# Read by Bolt's context builder (slack_bolt.request.internals.build_context) and matchers from any body,
# and again, by the same extractors, from the objects nested in it (an event, its message, an
# authorization): those are checked as envelopes too.
_ENVELOPE: dict[str, Key] = {
    "type": _str(),
    "team": _ID_OR_OBJECT,
    "enterprise": _ID_OR_OBJECT,
    "user": _ID_OR_OBJECT,
    "channel": _ID_OR_OBJECT,
    "team_id": _str(), "enterprise_id": _str(), "user_id": _str(), "channel_id": _str(), "user_team": _str(),
    "callback_id": _str(), "action_id": _str(), "trigger_id": _str(), "response_url": _str(), "bot_id": _str(),
    "ts": _str(), "thread_ts": _str(), "function_execution_id": _str(), "bot_access_token": _str(),
    # Bolt takes len() of a present "response_urls" and .get() of a present "view": neither may be null.
    # With two response URLs Bolt 1.x fails to log that it saw two (context.logger is not set yet);
    # learnbot's modals enable none, so Slack sends [].
    "response_urls": Key((list,), null=False, most=1, items=_obj(required=True, response_url=_str())),
    "function_data": _obj(), "container": _obj(channel_id=_str(), message_ts=_str(), view_id=_str()),
    "view": _obj(null=False, app_installed_team_id=_str(), team_id=_str()),
}
_NESTED = Key((dict,), keys=_ENVELOPE)
_ENVELOPE.update({
    "authorizations": Key((list,), items=Key((dict,), required=True, null=False, keys=_ENVELOPE)),
    # Bolt reads body.get("event", {}).get(...): a present "event" must be an object, never null.
    "event": Key((dict,), null=False, keys=_ENVELOPE),
    "message": _NESTED, "previous_message": _NESTED, "item": _NESTED, "assistant_thread": _NESTED,
})

_PRESSER = _obj(required=True, id=_str(required=True))
# state.values: block id -> action id -> the element's state.
_VALUES = _obj(required=True, each=_obj(required=True, each=_obj(required=True)))
_STATE = _obj(required=True, values=_VALUES)
# Bolt reads view.type of every submission (is it a workflow step's?).
_VIEW_KEYS: dict[str, Key] = {"id": _str(required=True), "type": _str(required=True),
                              "callback_id": _str(required=True), "hash": _str(),
                              "private_metadata": _str(), "state": _STATE}

# What each kind of body needs beyond the envelope, by what learnbot's listeners read.
_BY_TYPE: dict[str, dict[str, Key]] = {
    "block_actions": {
        "user": _PRESSER,
        "trigger_id": _str(required=True),
        "actions": Key((list,), required=True, null=False, non_empty=True, items=_obj(
            required=True, action_id=_str(required=True), block_id=_str(), value=_str(),
            selected_option=_obj(value=_str()))),
        "view": _obj(id=_str(required=True), hash=_str(), private_metadata=_str(),
                     state=_obj(values=_VALUES)),
    },
    "view_submission": {"user": _PRESSER, "view": Key((dict,), required=True, null=False, keys=_VIEW_KEYS)},
    "view_closed": {"user": _PRESSER, "view": _obj(required=True, callback_id=_str(required=True))},
    "shortcut": {"user": _PRESSER, "callback_id": _str(required=True), "trigger_id": _str(required=True)},
    "message_action": {"user": _PRESSER, "callback_id": _str(required=True), "trigger_id": _str(required=True),
                       "message": _obj(required=True, text=_str(), ts=_str(), attachments=Key((list,)),
                                       files=Key((list,))),
                       "channel": _obj(id=_str())},
    "event_callback": {"event": _obj(required=True, type=_str(required=True))},
    "url_verification": {"challenge": _str(required=True)},
}
# A slash command is a form body: every value is a string already; these must be there.
_COMMAND: dict[str, Key] = {"command": _str(required=True), "text": _str(), "user_id": _str(required=True),
                            "trigger_id": _str(required=True), "channel_id": _str()}
# Events whose listeners read more than the type.
_BY_EVENT: dict[str, dict[str, Key]] = {
    "app_home_opened": {"user": _str(required=True), "tab": _str()},
}

_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number"}


def shape_problem(body: Mapping[str, Any]) -> str | None:
    """Why `body` (a parsed Slack request) is not the shape Slack sends, or None when it is."""
    problem = _check_keys(body, _ENVELOPE, "")
    if problem:
        return problem
    if "command" in body:
        return _check_keys(body, _COMMAND, "")
    kind = body.get("type")
    if isinstance(kind, str) and kind in _BY_TYPE:
        problem = _check_keys(body, _BY_TYPE[kind], "")
        if problem or kind != "event_callback":
            return problem
        event = body["event"]
        return _check_keys(event, _BY_EVENT.get(event["type"], {}), "event.")
    return None


def _check_keys(obj: Mapping[str, Any], keys: Mapping[str, Key], prefix: str) -> str | None:
    for name, key in keys.items():
        path = prefix + name
        if name not in obj:
            if key.required:
                return f"{path} is missing"
            continue
        problem = _check(obj[name], key, path)
        if problem:
            return problem
    return None


def _check(value: Any, key: Key, path: str) -> str | None:
    if value is None:
        return None if key.null else f"{path} is missing" if key.required else f"{path} must not be null"
    # bool is an int in Python, not in JSON; no Slack id or flag here is a number.
    if not isinstance(value, key.kinds) or (isinstance(value, bool) and bool not in key.kinds):
        wanted = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in key.kinds)
        return f"{path} must be {wanted}"
    if isinstance(value, dict):
        problem = _check_keys(value, key.keys, path + ".")
        if problem or key.each is None:
            return problem
        for item in value.values():
            problem = _check(item, key.each, f"{path}.*")  # the key is the sender's text: not logged
            if problem:
                return problem
    if isinstance(value, list):
        if key.non_empty and not value:
            return f"{path} must not be empty"
        if key.most is not None and len(value) > key.most:
            return f"{path} must hold at most {key.most}"
        if key.items is not None:
            for index, item in enumerate(value):
                problem = _check(item, key.items, f"{path}[{index}]")
                if problem:
                    return problem
    return None
