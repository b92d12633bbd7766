"""A person's zone and name as Slack changes them (the user_change event): stored at once, nothing asked back."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.container import Services


def register(app: App, services: Services) -> None:
    def user_changed(event: dict[str, Any]) -> None:  # Bolt acknowledges an event when its listener returns
        # The event carries the whole user object, as users.info would give it: one upsert, no call to Slack.
        # Should the store fail, the error answer makes Slack send the event again.
        user = event.get("user")
        if isinstance(user, dict):
            services.people.store_profiles([user], now=services.clock())

    app.event("user_change")(user_changed)
