"""The shortcuts: "Send to L&D" on any message, "New L&D request" from the shortcuts menu, and the chooser they open."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.messages import forms
from bot.messages.ids import Action, Callback


def register(app: App, services: Services) -> None:
    def from_message(ack: Ack, body: dict[str, Any]) -> None:
        # Stored locally (the text can be 40,000 characters, more than a modal may carry), then answered;
        # the modal opens right after, well inside the trigger id's 3 seconds.
        user = body["user"]["id"]
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or ""
        source_id, view = services.shortcuts.store_message(
            user_id=user, channel_id=channel, message=message, response_url=body.get("response_url"),
            now=services.clock())
        ack()
        services.after_answer.submit("ui.open_chooser", services.shortcuts.open_chooser, body["trigger_id"], view,
                                     user_id=user, source_id=source_id, now=services.clock())

    def new_request(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        services.after_answer.submit("ui.open_chooser", services.shortcuts.open_chooser, body["trigger_id"],
                                     services.shortcuts.new_request_view(), user_id=body["user"]["id"],
                                     source_id=None, now=services.clock())

    def model_chosen(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        view = body.get("view") or {}
        key = (action.get("selected_option") or {}).get("value")
        if not key or not view.get("id"):
            return
        services.after_answer.submit("ui.show_form", services.shortcuts.show_form, view_id=view["id"],
                                     view_hash=view.get("hash"), user_id=body["user"]["id"], model_key=key,
                                     source_id=forms.source_of(view))

    app.shortcut({"type": "message_action", "callback_id": Callback.FROM_MESSAGE.value})(from_message)
    app.shortcut({"type": "shortcut", "callback_id": Callback.NEW_REQUEST.value})(new_request)
    app.action(Action.MODEL_CHOSEN.value)(model_chosen)
