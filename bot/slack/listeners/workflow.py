"""The Workflow Builder step "Request L&D support" (Bolt's @app.function) and its DM's button.

The step's event is stored and acknowledged; the checks, the filing and telling Slack how the step
ended are owed work (bot/services/workflow.py), woken after the answer.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.domain.workflow import CALLBACK_ID
from bot.messages.ids import Action
from bot.slack.listeners import followups


def register(app: App, services: Services) -> None:
    after = services.after_answer
    steps = services.workflow
    if steps is None:
        return

    def request_ld_support(event: dict[str, Any]) -> None:
        # Bolt acknowledges the event when this returns (auto_acknowledge); complete()/fail() are not used
        # here: Slack is told by the owed step, with the event's bot_access_token stored for it.
        step_id = steps.received(event, now=services.clock())
        if step_id is not None:
            after.submit("workflow_step", steps.run, step_id, now=services.clock())

    def open_form(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        step_id = followups.id_of(action)
        if step_id is None:
            return
        user = body["user"]["id"]
        view = steps.form_for(step_id, user_id=user)
        after.submit("ui.open_form", followups.open_view, services, body["trigger_id"], view, user_id=user,
                     channel_id=followups.where(body))
        after.submit("people.refresh", services.people.refresh, user, now=services.clock())

    app.function(CALLBACK_ID)(request_ld_support)
    app.action(Action.WORKFLOW_FORM.value)(open_form)
