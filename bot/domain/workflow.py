"""The Workflow Builder step "Request L&D support": what a workflow's inputs say, as a model's answers.

A workflow hands learnbot `support_model`, `requester`, `title`, `details` and `needed_by`
(manifest.yml, function `request_ld_support`). The catalogue's `workflow_inputs` says which field of
the model each free input fills; the answers then go through the same validation as the modal's.
What the workflow typed is as hostile as anything a person types: it is only ever a raw answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from bot.catalog.schema import SLACK_INPUT_MAX, SupportModel
from bot.domain.safe_text import one_line

CALLBACK_ID = "request_ld_support"  # the function's callback_id in manifest.yml
OUTPUTS = ("request_id", "issue_url", "first_due")
# What completeError says is shown to the workflow's builder in Slack: one line, bounded.
ERROR_MAX = 500
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def text_input(value: Any, limit: int = SLACK_INPUT_MAX) -> str:
    """A string input as the workflow gave it (anything else: nothing), cut to `limit`."""
    return value.strip()[:limit] if isinstance(value, str) else ""


def date_input(value: Any) -> str | None:
    """A `slack#/types/date` input as ISO "YYYY-MM-DD" (Slack sends that string; a Unix time is read in UTC)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return value.strip()[:10] or None  # kept as typed: validation says what is wrong with it
    return None


def looks_like_user(user_id: str) -> bool:
    return bool(_USER_ID.match(user_id))


def prefill(model: SupportModel, inputs: Mapping[str, Any]) -> dict[str, str]:
    """The model's fields the workflow's free inputs fill (text as given, dates as ISO), for the form too."""
    out: dict[str, str] = {}
    for name, field_id in model.workflow_inputs.items():
        field = model.field(field_id)
        value = date_input(inputs.get(name)) if field.type == "date" else text_input(
            inputs.get(name), field.max_length or SLACK_INPUT_MAX)
        if value:
            out[field_id] = value
    return out


def answers_from(model: SupportModel, inputs: Mapping[str, Any], *, requester: str) -> dict[str, Any]:
    """Raw answers, shaped as a submitted form's (`forms.read_state`), from the workflow's inputs.

    A people field the form pre-fills with the requester (a session's hosts) holds the requester here too.
    """
    raw: dict[str, Any] = dict(prefill(model, inputs))
    for f in model.fields:
        if f.type == "users" and f.prefill_requester:
            raw[f.id] = [requester]
    return raw


def unknown_model(key: str, known: Iterable[str]) -> str:
    shown = one_line(key, 60) if key.strip() else "(empty)"
    return error_text(f"learnbot has no support model \"{shown}\". Use one of: {', '.join(known)}.")


def not_a_person(user_id: str, why: str) -> str:
    shown = one_line(user_id, 40) if user_id.strip() else "(empty)"
    return error_text(f"The requester \"{shown}\" {why}: learnbot files requests for people only.")


def error_text(text: str) -> str:
    return one_line(text, ERROR_MAX)


def outputs(*, request_id: int, issue_url: str, first_due: date | None) -> dict[str, Any]:
    """functions.completeSuccess's outputs (manifest.yml's output_parameters); first_due is the plan's first date."""
    out: dict[str, Any] = {"request_id": str(request_id), "issue_url": issue_url}
    if first_due is not None:
        out["first_due"] = first_due.isoformat()
    return out
