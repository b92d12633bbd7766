"""The /learn slash command: help, a support model's form, or help with the closest match.

Answered from local work only (help is built here, `mine` read from the database); a model's
form is opened after the answer (followups.open_form).
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.messages import forms, notices
from bot.messages.ids import COMMAND
from bot.slack.listeners import followups, reporting
from bot.store.outage import is_outage

log = logging.getLogger(__name__)
HELP_WORDS = frozenset({"", "help", "?", "-h", "--help"})


def closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    if match:
        return match[0]
    prefixed = [c for c in choices if c.startswith(word[:3])] if len(word) >= 3 else []
    return prefixed[0] if len(prefixed) == 1 else None


def register(app: App, services: Services) -> None:
    catalog = services.catalog

    def learn(ack: Ack, command: dict[str, Any]) -> None:
        word = (command.get("text") or "").strip().split(" ", 1)[0].lower()
        if word in HELP_WORDS:
            text, body = forms.help_message(catalog)
            ack(text=text, blocks=body)
            return
        if word == "mine":
            try:
                text, body = services.home.mine(command["user_id"], now=services.clock())
            except Exception as exc:
                if not is_outage(exc):
                    raise
                text, body = notices.records_unreadable()  # the outage is logged once (bot/store/outage.py)
            ack(text=text, blocks=body)  # a slash command's answer is seen only by who typed it
            return
        if word == "settings":  # holiday country, reminder hour, leave (listeners/settings.py saves it)
            ack()
            services.after_answer.submit("ui.open_settings", services.reminder_settings.open, command["trigger_id"],
                                         command["user_id"], now=services.clock())
            return
        if word == "report":  # L&D admins: the report, built after the answer and sent to their DM
            ack(**reporting.answer(services, command))
            return
        if catalog.model(word) is None:
            suggestion = closest(word, [*catalog.catalog.keys, "mine", "settings", "report"])
            text, body = forms.help_message(catalog, unknown=word, suggestion=suggestion)
            ack(text=text, blocks=body)
            return
        user = command["user_id"]
        # The modal opens after the answer, in the after-answer `ui` lane, within the trigger's 3 s.
        if not services.after_answer.submit("ui.open_form", followups.open_form, services,
                                            trigger_id=command["trigger_id"], user_id=user, model_key=word,
                                            channel_id=command.get("channel_id")):
            ack(text=followups.BUSY)
            return
        ack()
        services.after_answer.submit("people.refresh", services.people.refresh, user, now=services.clock())

    app.command(COMMAND)(learn)
