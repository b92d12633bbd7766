"""After launch: the session follow-up button and form, and the evergreen review's three buttons."""

from __future__ import annotations

from collections.abc import Callable
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


def register(app: App, services: Services) -> None:
    slack, after = services.slack, services.after_answer

    def tell(body: dict[str, Any], text: str) -> None:
        """A note only the presser sees, where they pressed (their DM if that fails), after the answer."""
        after.submit("ui.tell", followups.tell, services, body["user"]["id"], followups.where(body), text)

    def follow_through(answered: Answered) -> None:
        """Everything after the answer: the owed notices now (the worker retries them), the DM redrawn."""
        now = services.clock()
        for notice_id in answered.notices:
            after.submit("notices.send", services.notices.send, notice_id, now=now)
        if answered.dm and answered.message:
            channel, ts = answered.dm
            after.submit("ui.redraw_reminder", slack.update_message, channel, ts, *answered.message)

    def open_follow_up(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        reminder_id = followups.id_of(action)
        if reminder_id is None:
            return
        try:
            view = services.after_launch.follow_up_form(reminder_id, user_id=body["user"]["id"])
        except NotAllowed:
            tell(body, REFUSAL)
            return
        except Stale as exc:
            tell(body, str(exc))
            return
        after.submit("ui.open_follow_up", slack.open_view, body["trigger_id"], view)

    def submit_follow_up(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
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
        follow_through(answered)

    def review_button(what: Callable[..., Answered]) -> Callable[..., None]:
        def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            reminder_id = followups.id_of(action)
            if reminder_id is None:
                return
            try:
                answered = what(reminder_id, user_id=body["user"]["id"], now=services.clock())
            except NotAllowed:
                tell(body, REFUSAL)
                return
            except Stale as exc:
                tell(body, str(exc))
                return
            if answered.view is not None:  # "Needs an update": the form opens with this click's trigger id
                after.submit("ui.open_update_form", slack.open_view, body["trigger_id"], answered.view)
            follow_through(answered)
        return on_click

    app.action(Action.FOLLOW_UP_OPEN.value)(followups.telling_outage(services, open_follow_up))
    app.view(Callback.FOLLOW_UP.value)(submit_follow_up)
    for action_id, what in ((Action.REVIEW_ACCURATE, services.after_launch.still_accurate),
                            (Action.REVIEW_UPDATE, services.after_launch.needs_update),
                            (Action.REVIEW_RETIRE, services.after_launch.retire)):
        app.action(action_id.value)(followups.telling_outage(services, review_button(what)))
