"""The Workflow Builder step's surfaces: the DM that asks the requester to finish the form, and the note
a stale button opens."""

from __future__ import annotations

from bot.catalog import SupportModel
from bot.domain.safe_text import slack_plain
from bot.messages.ids import Action
from bot.messages.kit import PLAIN_TEXT_TITLE_MAX, Block, button, context, plain, section


def form_dm(model: SupportModel, *, title: str, step_id: int) -> tuple[str, list[Block]]:
    """A workflow asked for L&D support on someone's behalf and some answers are missing: one button opens
    the model's form with what the workflow gave."""
    what = f"*{slack_plain(title, 300)}*" if title else "a request"
    text = f"A workflow started an L&D request for you ({model.name}). Finish its form to send it."
    return text, [
        section(f"{model.emoji} A workflow started {what} for you: *{slack_plain(model.name, 200)}*.\n"
                "A few answers are still missing. Open the form (what the workflow gave is filled in), "
                "finish it and press Submit; the workflow goes on once the GitLab issue exists.",
                accessory=button("Finish the form", Action.WORKFLOW_FORM.value, value=str(step_id),
                                 style="primary")),
        context("Sent by the Workflow Builder step *Request L&D support*."),
    ]


def step_done_view() -> Block:
    return {
        "type": "modal",
        "title": plain("L&D request", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Close", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section("This request was already sent (or the workflow step ended). "
                           "Use `/learn` for a new one.")],
    }
