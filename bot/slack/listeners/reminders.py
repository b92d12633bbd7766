"""Reminder and request buttons: Done, Snooze, Change date, Close, Step out; and the change-date modal.

Each press is checked and recorded in the database before Slack gets its answer; redrawing the
DM, an ephemeral refusal or the change-date modal follow it (followups, after-answer `ui` lane).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.domain.validation import anchor_of, check_one
from bot.messages import forms, notices
from bot.messages.ids import Action, Callback, stored_int
from bot.messages.named import stepped_out_view
from bot.services.named import NotNamed
from bot.services.reminders import NotAllowed, Stale
from bot.slack.listeners import followups

log = logging.getLogger(__name__)
REFUSAL = ("Only the requester, a co-owner or an L&D admin can change this request, "
           "so nothing was changed. Ask them, or the L&D team, if something needs doing.")


def _replace_message(services: Services, body: dict[str, Any], text: str,
                     new_blocks: list[dict[str, Any]]) -> None:
    services.after_answer.submit("ui.update_message", followups.replace_message, services, body, text, new_blocks)


def on_reminder(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    reminder_id, user = followups.id_of(action), body["user"]["id"]
    if reminder_id is None:
        return
    now = services.clock()
    if action["action_id"] == Action.REMINDER_DONE:
        redrawn = followups.unless_refused(services, body, REFUSAL, lambda: services.reminders.mark_done(
            reminder_id, user_id=user, now=now))
    else:
        how = "day" if action["action_id"] == Action.REMINDER_SNOOZE_DAY else "week"
        redrawn = followups.unless_refused(services, body, REFUSAL, lambda: services.reminders.snooze(
            reminder_id, how=how, user_id=user, now=now))
    if redrawn is not None:
        _replace_message(services, body, *redrawn)


def on_close(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    request_id, user = followups.id_of(action), body["user"]["id"]
    if request_id is None:
        return
    title = followups.unless_refused(services, body, REFUSAL, lambda: services.reminders.close_request(
        request_id, user_id=user, now=services.clock()))
    if title is None:
        return
    text, new_blocks = notices.request_closed(title, closed_by=user)
    _replace_message(services, body, text, new_blocks)


def on_step_out(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Someone named as host or co-owner steps out: only they can, and only of their own place."""
    ack()
    request_id, user = followups.id_of(action), body["user"]["id"]
    if request_id is None:
        return
    now = services.clock()
    try:
        out = services.named.step_out(request_id, user_id=user, now=now)
    except NotNamed as exc:
        followups.tell_presser(services, body, str(exc))
        return
    _replace_message(services, body, *stepped_out_view(out.title))
    for notice_id in out.notice_ids:  # the requester hears it
        services.after_answer.submit("notices.send", services.notices.send, notice_id, now=now)


def on_change_date(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    request_id, user = followups.id_of(action), body["user"]["id"]
    if request_id is None:
        return
    view = followups.unless_refused(services, body, REFUSAL, lambda: services.reminders.change_date_form(
        request_id, user_id=user))
    if view is None:
        return
    services.after_answer.submit("ui.open_view", followups.open_view, services, body["trigger_id"], view, user_id=user,
                 channel_id=followups.where(body))


def on_change_date_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    user = body["user"]["id"]
    request_id = stored_int(forms.metadata_of(view).get("request"))
    if request_id is None:
        ack(response_action="update", view=forms.replanned_error_view("This form is out of date. "
                                                                      "Open it again from the request."))
        return
    now = services.clock()
    try:
        model, field = services.reminders.anchor_field(request_id)
    except Stale as exc:
        ack(response_action="update", view=forms.replanned_error_view(str(exc)))
        return
    raw = forms.read_state(view["state"]["values"])
    try:
        value = check_one(field, raw.get("anchor"), today=services.people.local_today(user, now), now=now)
    except ValueError as exc:
        ack(response_action="errors", errors={"anchor": str(exc)})
        return
    anchor = anchor_of(model, {field.id: value}, services.people.zone(user))
    assert anchor is not None
    try:
        title, milestones = services.reminders.replan(request_id, user_id=user, new_value=value,
                                                      new_anchor=anchor, now=now)
    except NotAllowed:
        ack(response_action="errors", errors={"anchor": REFUSAL})
        return
    except Stale as exc:
        ack(response_action="errors", errors={"anchor": str(exc)})
        return
    ack(response_action="update", view=forms.replanned_view(title, milestones))


def register(app: App, services: Services) -> None:
    for action_id in (Action.REMINDER_DONE, Action.REMINDER_SNOOZE_DAY, Action.REMINDER_SNOOZE_WEEK):
        app.action(action_id.value)(followups.telling_outage(services, partial(on_reminder, services)))
    app.action(Action.REQUEST_CLOSE.value)(followups.telling_outage(services, partial(on_close, services)))
    app.action(Action.STEP_OUT.value)(followups.telling_outage(services, partial(on_step_out, services)))
    app.action(Action.REQUEST_CHANGE_DATE.value)(followups.telling_outage(services, partial(on_change_date, services)))
    app.view(Callback.CHANGE_DATE.value)(partial(on_change_date_submit, services))
