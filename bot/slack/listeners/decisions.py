"""The deciders' buttons and modals, and the requester's Reply: ack first, decisions stored before the answer."""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import partial
from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.domain.decisions import Verb
from bot.messages import decisions as messages
from bot.messages import forms
from bot.messages.ids import Action, Callback, stored_int
from bot.services.decisions import Decided
from bot.slack.listeners import followups

log = logging.getLogger(__name__)


def _parse_value(action: dict[str, Any]) -> tuple[int, int] | None:
    """(request id, decision version) from a button's "<id>:<version>" value."""
    request_id, _, version = str(action.get("value") or "").partition(":")
    parsed = stored_int(request_id), stored_int(version)
    return (parsed[0], parsed[1]) if parsed[0] is not None and parsed[1] is not None else None


def _metadata(view: dict[str, Any]) -> dict[str, Any] | None:
    """The modal's metadata with its request id and version as ints; None if it lacks them (out of date, forged)."""
    meta = forms.metadata_of(view)
    request_id, version = stored_int(meta.get("request")), stored_int(meta.get("version"))
    if request_id is None or version is None:
        return None
    return {**meta, "request": request_id, "version": version}


def on_decide_button(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    parsed, verb = _parse_value(action), messages.VERB_OF.get(action.get("action_id", ""))
    if parsed is None or verb is None:
        return
    user, trigger = body["user"]["id"], body["trigger_id"]
    channel = (body.get("container") or {}).get("channel_id")

    def work() -> None:
        refused = services.decisions.open_decision(parsed[0], parsed[1], verb, user_id=user, trigger_id=trigger,
                                                   now=services.clock())
        if refused:
            followups.tell(services, user, channel, refused)

    services.after_answer.submit("ui.decision_modal", work)


def on_decide_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    meta = _metadata(view)
    if meta is None or meta.get("verb") not in {v.value for v in Verb}:
        ack(response_action="update", view=messages.decided_view("This form is out of date. Nothing was changed."))
        return
    raw = forms.read_state(view["state"]["values"])
    until: date | None = None
    if raw.get("until"):
        try:
            until = date.fromisoformat(str(raw["until"]))
        except ValueError:
            ack(response_action="errors", errors={"until": "Pick a date."})
            return
    now = services.clock()
    result = services.decisions.decide(
        int(meta["request"]), int(meta["version"]), Verb(meta["verb"]), user_id=body["user"]["id"],
        text=str(raw.get("text") or ""), until=until, gitlab_username=str(raw.get("gitlab_username") or ""),
        confirmed=bool(raw.get("confirm")), now=now)
    _answer(services, ack, result, "decisions.after_decision", now=now)


def on_reply_button(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    parsed = _parse_value(action)
    if parsed is None:
        return
    user, trigger = body["user"]["id"], body["trigger_id"]
    channel = (body.get("container") or {}).get("channel_id")
    form = services.decisions.reply_form(parsed[0], parsed[1], user_id=user)

    def work() -> None:
        if isinstance(form, str):
            followups.tell(services, user, channel, form)
        else:
            services.slack.open_view(trigger, form)

    services.after_answer.submit("ui.reply_modal", work)


def on_reply_submit(services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    meta = _metadata(view)
    if meta is None:
        ack(response_action="update", view=messages.decided_view("This form is out of date. Nothing was sent."))
        return
    raw = forms.read_state(view["state"]["values"])
    now = services.clock()
    result = services.decisions.reply(int(meta["request"]), int(meta["version"]), user_id=body["user"]["id"],
                                      text=str(raw.get("text") or ""), now=now)
    _answer(services, ack, result, "decisions.after_reply", now=now)


def on_link_similar(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Link as related on the deciders' card: stored and owed after the answer; the presser hears how it went."""
    ack()
    request_id = stored_int(action.get("value"))
    if request_id is None:
        return
    user, channel = body["user"]["id"], (body.get("container") or {}).get("channel_id")

    def work() -> None:
        now = services.clock()
        followups.tell(services, user, channel, services.similar.link(request_id, user_id=user, now=now))
        services.similar.after_link(request_id, now=now)

    services.after_answer.submit("ui.link_similar", work)


def _answer(services: Services, ack: Ack, result: Decided, lane: str, *, now: datetime) -> None:
    """The modal's answer: its errors, or the refusal or confirmation in its place; then what is owed."""
    if result.errors:
        ack(response_action="errors", errors=result.errors)
        return
    ack(response_action="update", view=messages.decided_view(result.refused or result.confirmation))
    if not result.refused:
        services.after_answer.submit(lane, services.decisions.after_decision, result, now=now)


def register(app: App, services: Services) -> None:
    for action_id in messages.VERB_OF:
        app.action(action_id)(followups.telling_outage(services, partial(on_decide_button, services)))
    app.action(Action.LINK_SIMILAR.value)(followups.telling_outage(services, partial(on_link_similar, services)))
    app.action(Action.DECISION_REPLY.value)(followups.telling_outage(services, partial(on_reply_button, services)))
    app.view(Callback.DECIDE.value)(partial(on_decide_submit, services))
    app.view(Callback.REPLY.value)(partial(on_reply_submit, services))
