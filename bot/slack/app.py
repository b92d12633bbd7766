"""The Bolt app: request verification, and the listeners of /learn, its modals and buttons."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.container import Services
from bot.slack.listeners import actions, commands, home, reminders, views


def create_bolt_app(services: Services) -> App:
    settings = services.settings
    app = App(
        client=services.web_client,
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        # Verification of every HTTP request (signature + 5-minute window) stays on; Socket Mode
        # requests arrive over the authenticated socket instead.
        request_verification_enabled=settings.slack_signing_secret is not None,
        token_verification_enabled=False,
        # ack() answers Slack at once; the listener goes on in Bolt's thread pool after it.
        process_before_response=False,
        logger=logging.getLogger("bot.slack"),
    )
    commands.register(app, services)
    views.register(app, services)
    actions.register(app, services)
    reminders.register(app, services)
    home.register(app, services)
    return app
