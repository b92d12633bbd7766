"""The App Home tab: published whenever someone opens it, so it is always current."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.container import Services

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def home_opened(event: dict[str, Any]) -> None:  # Bolt acknowledges an event when its listener returns
        if event.get("tab") != "home":
            return  # the Messages tab
        services.after_answer.submit("ui.publish_home", services.home.publish, event["user"], now=services.clock())

    app.event("app_home_opened")(home_opened)
