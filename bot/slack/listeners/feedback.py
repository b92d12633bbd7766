"""After launch: the outcome check-in's four buttons and the satisfaction rating's five.

Each press is parsed (which row, which answer, the note typed in the DM's input), acknowledged, and
recorded by the service before Slack gets its answer; the DM is redrawn, or a refusal said privately,
after it (followups, the after-answer `ui` lane).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from slack_bolt import Ack, App

from bot.container import Services
from bot.domain.feedback import OUTCOME_ANSWERS, outcome_answer, rating_of, typed_note
from bot.messages import forms
from bot.messages.feedback import NOTE_BLOCK
from bot.messages.ids import Action
from bot.slack.listeners import followups

REFUSAL = "Only the person who made this request can answer this, so nothing was recorded."
OUTCOME_BUTTON = re.compile(
    rf"^{re.escape(Action.OUTCOME_ANSWER.value)}:({'|'.join(map(re.escape, OUTCOME_ANSWERS))})$")
RATING_BUTTON = re.compile(rf"^{re.escape(Action.SATISFACTION_RATE.value)}:[1-5]$")


def _typed(body: dict[str, Any]) -> str | None:
    """The note typed in the DM before the button was pressed (Slack sends the message's input state)."""
    return typed_note(forms.read_state((body.get("state") or {}).get("values") or {}).get(NOTE_BLOCK))


def _redraw(services: Services, body: dict[str, Any], redrawn: tuple[str, list[dict[str, Any]]] | None) -> None:
    if redrawn is not None:
        services.after_answer.submit("ui.update_message", followups.replace_message, services, body, *redrawn)


def on_outcome(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    checkin_id = followups.id_of(action)
    answer = outcome_answer(str(action.get("action_id", "")).partition(":")[2])
    if checkin_id is None or answer is None:
        return
    note = _typed(body)
    _redraw(services, body, followups.unless_refused(services, body, REFUSAL, lambda: services.feedback.answer_checkin(
        checkin_id, answer=answer, note=note, user_id=body["user"]["id"], now=services.clock())))


def on_rating(services: Services, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    ack()
    rating_id = followups.id_of(action)
    rating = rating_of(str(action.get("action_id", "")).partition(":")[2])
    if rating_id is None or rating is None:
        return
    comment = _typed(body)
    _redraw(services, body, followups.unless_refused(services, body, REFUSAL, lambda: services.feedback.rate(
        rating_id, rating=rating, comment=comment, user_id=body["user"]["id"], now=services.clock())))


def register(app: App, services: Services) -> None:
    app.action(OUTCOME_BUTTON)(followups.telling_outage(services, partial(on_outcome, services)))
    app.action(RATING_BUTTON)(followups.telling_outage(services, partial(on_rating, services)))
