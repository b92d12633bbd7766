"""The request forms: /learn help, a support model's modal, its state, and what it turns into."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from bot.catalog import FieldSpec, LoadedCatalog, SupportModel
from bot.domain.from_message import cut
from bot.domain.planning import Plan
from bot.domain.safe_text import slack_escape, slack_plain
from bot.messages.ids import COMMAND, Action, Callback, stored_int
from bot.messages.kit import (
    MESSAGE_BLOCKS_MAX,
    MODAL_BLOCKS_MAX,
    PLAIN_TEXT_TITLE_MAX,
    Block,
    button,
    context,
    header,
    plain,
    plan_lines,
    section,
)

# --- help ------------------------------------------------------------------------------------


def help_message(catalog: LoadedCatalog, *, unknown: str | None = None,
                 suggestion: str | None = None) -> tuple[str, list[Block]]:
    """What /learn can do: one line per support model with a button that opens its form."""
    out: list[Block] = []
    if unknown is not None:
        word = slack_plain(unknown, 60)
        hint = f" Did you mean `{COMMAND} {suggestion}`?" if suggestion else ""
        out.append(section(f":thinking_face: I don't know `{COMMAND} {word}`.{hint}"))
    out.append(header("How the L&D team can help"))
    for model in catalog.models:
        out.append(section(
            f"{model.emoji} *{slack_escape(model.name)}* · `{COMMAND} {model.key}`\n{model.summary}",
            accessory=button("Start", Action.START_REQUEST, value=model.key),
        ))
    out.append(context(
        f"Type `{COMMAND} <model>` to open a form straight away, or `{COMMAND} mine` to see your requests. "
        f"`{COMMAND} settings`: your holiday country, reminder hour and leave. On any message, *Send to L&D* "
        "turns it into a request. Requests are filed as issues in the L&D GitLab project."
    ))
    text = "How the L&D team can help: " + ", ".join(f"{COMMAND} {m.key}" for m in catalog.models)
    if unknown is not None:
        text = f"I don't know that one. {text}"
    return text, out[:MESSAGE_BLOCKS_MAX]


# --- the request form ------------------------------------------------------------------------


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": plain(label, 75), "value": value}


def _element(field: FieldSpec, *, requester: str, dispatch: bool) -> Block:
    action_id = Action.FIELD_CHANGED.value if dispatch else "value"
    match field.type:
        case "text" | "url":
            el: Block = {"type": "plain_text_input", "max_length": field.max_length or 3000}
        case "long_text" | "urls":
            el = {"type": "plain_text_input", "multiline": True, "max_length": field.max_length or 3000}
        case "date":
            el = {"type": "datepicker"}
        case "datetime":
            el = {"type": "datetimepicker"}
        case "select":
            el = {"type": "static_select", "options": [_option(o.value, o.label) for o in field.options]}
        case "multi_select":
            el = {"type": "multi_static_select", "options": [_option(o.value, o.label) for o in field.options]}
        case "user":
            el = {"type": "users_select"}
        case "users":
            el = {"type": "multi_users_select", "max_selected_items": field.people_limit}
            if field.prefill_requester:
                el["initial_users"] = [requester]
        case "number":
            el = {"type": "number_input", "is_decimal_allowed": False}
            if field.min_value is not None:
                el["min_value"] = str(field.min_value)
            if field.max_value is not None:
                el["max_value"] = str(field.max_value)
        case "yes_no":
            el = {"type": "radio_buttons", "options": [_option("yes", "Yes"), _option("no", "No")]}
        case _:
            raise AssertionError(field.type)
    el["action_id"] = action_id
    if field.placeholder and el["type"] not in ("radio_buttons", "datetimepicker"):
        el["placeholder"] = plain(field.placeholder, 150)
    return el


def _drivers(model: SupportModel) -> set[str]:
    """Select fields whose answer shows or hides other fields: they redraw the form on change."""
    return {name for f in model.fields for name in (f.when or {})}


def request_modal(model: SupportModel, *, requester: str, selected: Mapping[str, Any] | None = None,
                  initial: Mapping[str, str] | None = None, source: int | None = None,
                  workflow: int | None = None) -> Block:
    """The modal for one support model; `selected` holds current answers of fields that drive `when`.

    From the message shortcut, `initial` pre-fills text fields (cut to each field's limit: Slack
    refuses a longer initial value) and `source` names the stored message, carried to submission.
    From the Workflow Builder step, `workflow` names the step (dates are pre-filled too).
    """
    selected = dict(selected or {})
    initial = dict(initial or {})
    drivers = _drivers(model)
    blocks: list[Block] = [context(f"{model.emoji} {model.summary} Everything here goes into the GitLab issue.")]
    if source is not None:
        blocks.append(context(":speech_balloon: Filled in from the Slack message you picked; edit it as you like. "
                              "A link to the message goes into the issue."))
    for field in model.visible_fields(selected):
        block: Block = {
            "type": "input",
            "block_id": field.id,
            "label": plain(field.label, 2000),
            "element": _element(field, requester=requester, dispatch=field.id in drivers),
            "optional": not field.required,
        }
        if initial.get(field.id) and block["element"]["type"] == "plain_text_input":
            block["element"]["initial_value"] = cut(initial[field.id], block["element"]["max_length"])
        elif initial.get(field.id) and block["element"]["type"] == "datepicker" and _iso_date(initial[field.id]):
            block["element"]["initial_date"] = initial[field.id]
        if field.id in drivers:
            block["dispatch_action"] = True
        if field.hint:
            block["hint"] = plain(field.hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": Callback.SUBMIT_REQUEST.value,
        "private_metadata": json.dumps({"model": model.key, **({"source": source} if source is not None else {}),
                                        **({"workflow": workflow} if workflow is not None else {})}),
        "title": plain(model.modal_title, PLAIN_TEXT_TITLE_MAX),
        "submit": plain("Submit request", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Cancel", PLAIN_TEXT_TITLE_MAX),
        "blocks": blocks[:MODAL_BLOCKS_MAX],
    }


def metadata_of(view: Mapping[str, Any]) -> dict[str, Any]:
    """A view's private_metadata as the JSON object learnbot put there; {} for anything else (forged, garbled)."""
    raw = view.get("private_metadata")
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[" nested thousands deep
        return {}
    return meta if isinstance(meta, dict) else {}


def model_key_of(view: Mapping[str, Any]) -> str | None:
    key = metadata_of(view).get("model")
    return key if isinstance(key, str) else None


def source_of(view: Mapping[str, Any]) -> int | None:
    """The stored message a form was opened from (the message shortcut), if any."""
    return stored_int(metadata_of(view).get("source"))


def workflow_of(view: Mapping[str, Any]) -> int | None:
    """The Workflow Builder step a form was opened for (its DM's button), if any."""
    return stored_int(metadata_of(view).get("workflow"))


def _iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def read_state(values: Mapping[str, Any]) -> dict[str, Any]:
    """A view's `state.values` as field id → raw answer: strings, lists of strings or None as Slack sends
    them. What a forged payload puts there instead is passed on as it is, for validation to refuse inline
    (an option that is not an object reads as no answer)."""
    raw: dict[str, Any] = {}
    for block_id, actions in values.items() if isinstance(values, Mapping) else ():
        for element in actions.values() if isinstance(actions, Mapping) else ():
            if not isinstance(element, Mapping):
                continue
            kind = element.get("type")
            value: Any
            if kind in ("static_select", "radio_buttons", "external_select"):
                option = element.get("selected_option")
                value = option.get("value") if isinstance(option, Mapping) else None
            elif kind in ("multi_static_select", "checkboxes"):
                options = element.get("selected_options") or []
                value = ([o.get("value") if isinstance(o, Mapping) else o for o in options]
                         if isinstance(options, list) else options)
            elif kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "datetimepicker":
                stamp = element.get("selected_date_time")
                value = str(stamp) if stamp is not None else None
            elif kind == "users_select":
                value = element.get("selected_user")
            elif kind == "multi_users_select":
                value = element.get("selected_users") or []
            else:
                value = element.get("value")
            raw[block_id] = value
    return raw



def request_saved_view(model: SupportModel, *, title: str, plan: Plan | None, duplicate: bool = False) -> Block:
    """What the modal turns into after a good submission."""
    blocks: list[Block] = [
        section(f":white_check_mark: *Saved:* {slack_plain(title, 500)}\n"
                "I'm opening the GitLab issue now and will send you the link in a DM."),
    ]
    if plan is not None and plan.milestones:
        blocks.append(section("*Your plan*\n" + plan_lines(plan.milestones)))
        if plan.warning:
            blocks.append(context(f":warning: {slack_escape(plan.warning)}"))
    if duplicate:
        blocks.append(context("This form was already submitted; nothing new was filed."))
    return {
        "type": "modal",
        "title": plain("Request saved", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Done", PLAIN_TEXT_TITLE_MAX),
        "blocks": blocks,
    }


def model_gone_view(key: str) -> Block:
    return {
        "type": "modal",
        "title": plain("Not available", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Close", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section(f"The support model `{slack_plain(key, 40)}` is no longer offered. "
                           f"Type `{COMMAND} help` to see what is.")],
    }


def change_date_modal(*, request_id: int, request_title: str, field_label: str, field_type: str,
                      current: Any) -> Block:
    element: Block
    if field_type == "datetime":
        element = {"type": "datetimepicker", "action_id": "value"}
        if current is not None:
            element["initial_date_time"] = int(current.timestamp())
    else:
        element = {"type": "datepicker", "action_id": "value"}
        if current is not None:
            element["initial_date"] = current.isoformat()
    return {
        "type": "modal",
        "callback_id": Callback.CHANGE_DATE.value,
        "private_metadata": json.dumps({"request": request_id}),
        "title": plain("Change the date", PLAIN_TEXT_TITLE_MAX),
        "submit": plain("Re-plan", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Cancel", PLAIN_TEXT_TITLE_MAX),
        "blocks": [
            section(f"*{slack_plain(request_title, 500)}*\nSteps already done keep their dates; the open ones "
                    "move with the new date, and the GitLab checklist follows."),
            {"type": "input", "block_id": "anchor", "label": plain(field_label, 2000), "element": element},
        ],
    }


def replanned_view(title: str, milestones: Iterable[Any]) -> Block:
    return {
        "type": "modal",
        "title": plain("Plan updated", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Done", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section(f":calendar: *{slack_plain(title, 500)}* — the new plan\n" + plan_lines(milestones))],
    }



def replanned_error_view(text: str) -> Block:
    return {
        "type": "modal",
        "title": plain("Change the date", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Close", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section(f":warning: {slack_escape(text)}")],
    }


