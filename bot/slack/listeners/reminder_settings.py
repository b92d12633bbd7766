"""/learn settings: the modal's submission (the command opens it, in listeners/commands.py)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.messages import forms
from bot.messages.ids import Callback


def register(app: App, services: Services) -> None:
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        raw = forms.read_state(view["state"]["values"])
        checked, saved = services.reminder_settings.save(body["user"]["id"], raw, now=services.clock())
        if checked.errors:
            ack(response_action="errors", errors=checked.errors)
            return
        ack(response_action="update", view=saved)

    app.view(Callback.SETTINGS.value)(submit)
