"""What listeners hand to `services.after_answer`: the Slack calls that follow an answer.

Listeners run in the request's thread and Slack gets their answer when they return (Bolt's
process_before_response), so they only do local work; every call to Slack's Web API is one of
these, queued in the after-answer `ui` lane. Each says what happens when the call fails, since
nobody is waiting on it any more.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bot.container import Services
from bot.gateways.slack import SlackFailure
from bot.messages import notices
from bot.messages.ids import stored_int
from bot.services.reminders import NotAllowed, Stale
from bot.store.outage import is_outage

log = logging.getLogger(__name__)

# Slack's answers to a views.open whose trigger id is past its 3 seconds (or was never valid).
DEAD_TRIGGER = frozenset({"expired_trigger_id", "invalid_trigger_id", "trigger_exchanged"})
TOO_SLOW = ("Slack took too long to open the form, so it did not open. Nothing was saved: "
            "please try again{how}.")
BUSY = ("learnbot has too much to do right now to open the form. Nothing was saved: please try again "
        "in a minute.")


def tell(services: Services, user_id: str, channel_id: str | None, text: str) -> None:
    """An ephemeral note to someone where they are (their DM if that fails, or there is no channel)."""
    text, note = notices.notice(text)
    try:
        if channel_id:
            services.slack.post_ephemeral(channel_id, user_id, text, note)
            return
    except SlackFailure as exc:
        log.info("ephemeral to %s in %s failed (%s); sending a DM", user_id, channel_id, exc)
    services.slack.send_dm(user_id, text, note)


T = TypeVar("T")


def tell_presser(services: Services, body: dict[str, Any], text: str) -> None:
    """A note only the presser sees, where they pressed (their DM if that fails), after the answer."""
    services.after_answer.submit("ui.tell", tell, services, body["user"]["id"], where(body), text)


def unless_refused(services: Services, body: dict[str, Any], refusal: str, work: Callable[[], T]) -> T | None:
    """A button's service call; None when it is refused (not theirs to press, or out of date), which the
    presser is told privately."""
    try:
        return work()
    except NotAllowed:
        tell_presser(services, body, refusal)
    except Stale as exc:
        tell_presser(services, body, str(exc))
    return None


def spend_trigger(services: Services, open_it: Callable[[], object], *, user_id: str, channel_id: str | None,
                  again: str = "") -> None:
    """Run a views.open with a trigger id; if the trigger died on the way (Slack slow, queue long), say so."""
    try:
        open_it()
    except SlackFailure as exc:
        # A dead trigger, or no answer in time (by then the trigger is dead too): say so. Anything else is a bug.
        if exc.code and exc.code not in DEAD_TRIGGER:
            raise
        log.warning("views.open for %s came too late: %s", user_id, exc)
        tell(services, user_id, channel_id, TOO_SLOW.format(how=again))


def open_form(services: Services, *, trigger_id: str, user_id: str, model_key: str, channel_id: str | None) -> None:
    spend_trigger(services, lambda: services.intake.open_form(trigger_id=trigger_id, user_id=user_id,
                                                              model_key=model_key),
                  user_id=user_id, channel_id=channel_id, again=f" with `/learn {model_key}`")


def open_view(services: Services, trigger_id: str, view: dict[str, Any], *, user_id: str,
              channel_id: str | None) -> None:
    spend_trigger(services, lambda: services.slack.open_view(trigger_id, view), user_id=user_id,
                  channel_id=channel_id)


def replace_message(services: Services, body: dict[str, Any], text: str, blocks: list[dict[str, Any]]) -> None:
    """Redraw the message whose button was pressed (a reminder DM), if the press came from one."""
    container = body.get("container") or {}
    if container.get("channel_id") and container.get("message_ts"):
        services.slack.update_message(container["channel_id"], container["message_ts"], text, blocks)


def id_of(action: dict[str, Any]) -> int | None:
    """The row id a button carries in its value (None for anything else)."""
    return stored_int(action.get("value"))


def where(body: dict[str, Any]) -> str | None:
    """The channel a button was pressed in, if any."""
    return (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")


def telling_outage(services: Services, listener: Callable[..., None]) -> Callable[..., None]:
    """A button's listener that, when the database is out of reach, tells the presser so where they pressed
    ("learnbot can't read its records right now") instead of failing silently with a traceback in the log.
    The outage itself is logged once (bot/store/outage.py). Bolt reads the wrapped listener's arguments."""

    @functools.wraps(listener)
    def run(**kwargs: Any) -> None:
        try:
            listener(**kwargs)
        except Exception as exc:
            if not is_outage(exc):
                raise
            ack = kwargs.get("ack")
            if ack is not None and ack.response is None:  # it failed before answering Slack
                ack()
            body = kwargs["body"]
            services.after_answer.submit("ui.tell", tell, services, body["user"]["id"], where(body),
                                         notices.RECORDS_UNREADABLE)

    return run

