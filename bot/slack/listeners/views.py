"""Modal submissions: store first, answer Slack, then file the GitLab issue."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy.exc import OperationalError

from bot import metrics
from bot.container import Services
from bot.messages import forms
from bot.messages.ids import Callback

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        key = forms.model_key_of(view)
        user_id = body["user"]["id"]
        model = services.catalog.model(key or "")
        if model is None:
            ack(response_action="update", view=forms.model_gone_view(key or "?"))
            return
        raw = forms.read_state(view["state"]["values"])
        try:
            result = services.intake.submit(model.key, raw, user_id=user_id, view_id=view.get("id"),
                                            now=services.clock(), source_id=forms.source_of(view))
        except OperationalError:
            log.exception("could not store a %s request from %s", model.key, user_id)
            # The modal stays open with every answer in it; nothing is lost by trying again.
            first = model.visible_fields(raw)[0].id
            ack(response_action="errors", errors={
                first: "learnbot could not save this just now (database unavailable). Please press Submit again "
                       "in a minute; your answers are still here."})
            return
        if result.errors:
            metrics.SUBMISSIONS_REFUSED.labels(model.key).inc()
            ack(response_action="errors", errors=result.errors)
            return
        ack(response_action="update",
            view=forms.request_saved_view(model, title=result.title, plan=result.plan, duplicate=result.duplicate))
        if result.duplicate or result.request_id is None:
            return
        metrics.REQUESTS_SUBMITTED.labels(model.key).inc()
        step = forms.workflow_of(view)  # opened from a Workflow Builder step's DM: it goes on once the issue exists
        steps = services.workflow
        if step is not None and (steps is None or not steps.attach(step, user_id=user_id, request_id=result.request_id,
                                                                   now=services.clock())):
            step = None
        if forms.source_of(view) is not None:  # from the message shortcut: say so where they used it
            services.after_answer.submit("ui.shortcut_confirmation", services.shortcuts.confirm, result.request_id)
        # A wake-up only: the filing and the deciders' message are stored jobs. If the after-answer
        # queue is full, the worker's next pass does them instead.
        if not services.after_answer.submit("file_issue", _file_then_announce, services, result.request_id, step):
            log.info("request %s: filing left to the worker (after-answer queue full)", result.request_id)

    app.view(Callback.SUBMIT_REQUEST.value)(submit)


def _file_then_announce(services: Services, request_id: int, step: int | None = None) -> None:
    """File the issue, then put the request before its deciders with the issue's link (in that order);
    then end the Workflow Builder step the form was opened for, if any."""
    services.filing.file_now(request_id, now=services.clock())
    services.decisions.after_submit(request_id, now=services.clock())
    services.named.send_owed(request_id, now=services.clock())  # "you were named", to hosts and co-owners
    if step is not None and services.workflow is not None:
        services.workflow.run(step, now=services.clock())
