"""After launch: the session follow-up button and form, and the evergreen review's three buttons."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.messages import forms
from bot.messages.ids import Action, Callback, stored_int
from bot.services.after_launch import Answered
from bot.services.reminders import NotAllowed, Stale
from bot.slack.listeners import followups

REFUSAL = ("Only the requester, a co-owner or an L&D admin can answer this, so nothing was changed. "
           "Ask them, or the L&D team, if something needs doing.")


def _follow_through(services: Services, answered: Answered) -> None:
    """Everything after the answer: the owed notices now (the worker retries them), the DM redrawn."""
    after, now = services.after_answer, services.clock()
    for notice_id in answered.notices:
        after.submit("notices.send", services.notices.send, notice_id, now=now)
    if answered.dm and answered.message:
        channel, ts = answered.dm
        after.submit("ui.redraw_reminder", services.slack.update_message, channel, ts, *answered.message)


def open_follow_up(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    reminder_id = followups.id_of(action)
    if reminder_id is None:
        return
    view = followups.unless_refused(services, body, REFUSAL, lambda: services.after_launch.follow_up_form(
        reminder_id, user_id=body["user"]["id"]))
    if view is None:
        return
    services.after_answer.submit("ui.open_follow_up", services.slack.open_view, body["trigger_id"], view)


def submit_follow_up(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    reminder_id = stored_int(forms.metadata_of(view).get("reminder"))
    if reminder_id is None:
        ack(response_action="update", view=forms.replanned_error_view("This form is out of date."))
        return
    raw = forms.read_state(view["state"]["values"])
    try:
        answered = services.after_launch.submit_follow_up(reminder_id, raw, user_id=body["user"]["id"],
                                                         now=services.clock())
    except NotAllowed:
        ack(response_action="errors", errors={"attendance": REFUSAL})
        return
    except Stale as exc:
        ack(response_action="errors", errors={"attendance": str(exc)})
        return
    if answered.errors:
        ack(response_action="errors", errors=answered.errors)
        return
    ack(response_action="update", view=answered.view)
    _follow_through(services, answered)


def on_review_button(services: Services, what: Callable[..., Answered], ack: Ack, body: dict[str, Any],
                     action: dict[str, Any]) -> None:
    """One of the evergreen review's buttons; `what` is the service's answer to it."""
    ack()
    reminder_id = followups.id_of(action)
    if reminder_id is None:
        return
    answered = followups.unless_refused(services, body, REFUSAL, lambda: what(
        reminder_id, user_id=body["user"]["id"], now=services.clock()))
    if answered is None:
        return
    if answered.view is not None:  # "Needs an update": the form opens with this click's trigger id
        services.after_answer.submit("ui.open_update_form", services.slack.open_view, body["trigger_id"],
                                     answered.view)
    _follow_through(services, answered)


def register(app: App, services: Services) -> None:
    app.action(Action.FOLLOW_UP_OPEN.value)(followups.telling_outage(services, partial(open_follow_up, services)))
    app.view(Callback.FOLLOW_UP.value)(partial(submit_follow_up, services))
    for action_id, what in ((Action.REVIEW_ACCURATE, services.after_launch.still_accurate),
                            (Action.REVIEW_UPDATE, services.after_launch.needs_update),
                            (Action.REVIEW_RETIRE, services.after_launch.retire)):
        app.action(action_id.value)(followups.telling_outage(services, partial(on_review_button, services, what)))
