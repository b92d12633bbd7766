"""Buttons and selects: start a request, redraw a form when a choice changes, link buttons."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.messages import forms
from bot.messages.ids import Action
from bot.slack.listeners import followups


def register(app: App, services: Services) -> None:
    after = services.after_answer

    def start_request(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        if services.catalog.model(action.get("value", "")) is None:
            return
        user = body["user"]["id"]
        after.submit("ui.open_form", followups.open_form, services, trigger_id=body["trigger_id"], user_id=user,
                     model_key=action["value"], channel_id=followups.where(body))
        after.submit("people.refresh", services.people.refresh, user, now=services.clock())

    def field_changed(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        view = body.get("view") or {}
        key = forms.model_key_of(view)
        if key is None or services.catalog.model(key) is None:
            return
        after.submit("ui.redraw_form", services.intake.redraw_form,
                     view_id=view["id"], view_hash=view.get("hash"), user_id=body["user"]["id"], model_key=key,
                     selected=forms.read_state(view.get("state", {}).get("values", {})), source=forms.source_of(view))

    def link_button(ack: Ack) -> None:
        ack()  # the browser follows the URL; Slack still wants the click acknowledged

    # "learn.start", or "learn.start:<model>" where several start buttons share one actions block.
    app.action(re.compile(rf"^{re.escape(Action.START_REQUEST.value)}(:[\w-]+)?$"))(start_request)
    app.action(Action.FIELD_CHANGED.value)(field_changed)
    app.action(Action.OPEN_ISSUE.value)(link_button)
