"""The Bolt app: request verification, and the listeners of /learn, its modals and buttons."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.container import Services
from bot.slack.listeners import (
    actions,
    after_launch,
    commands,
    decisions,
    home,
    reminder_settings,
    reminders,
    shortcuts,
    views,
)


class _SameTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN by itself and warns that the client's token wins over it. Ours is
    the client built from that same setting (with retry handlers and SLACK_API_URL): not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


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
        logger=_bolt_logger(),
    )
    commands.register(app, services)
    views.register(app, services)
    actions.register(app, services)
    reminders.register(app, services)
    home.register(app, services)
    decisions.register(app, services)
    shortcuts.register(app, services)
    reminder_settings.register(app, services)
    after_launch.register(app, services)
    return app


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("bot.slack")
    if not any(isinstance(f, _SameTokenNotice) for f in logger.filters):
        logger.addFilter(_SameTokenNotice())
    return logger
