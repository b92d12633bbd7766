"""Messages to the people a request names (hosts, co-owners): you were named, you stepped out."""

from __future__ import annotations

from bot.domain.safe_text import slack_escape, slack_plain
from bot.messages.ids import Action
from bot.messages.kit import Block, button, context, link, section


def named_notice(*, request_id: int, title: str, model_name: str, requester: str, as_what: str,
                 url: str | None = None) -> tuple[str, list[Block]]:
    """The one DM someone gets when a request names them: who did, what it means, and how to step out."""
    what = link(url, title) if url else f"“{slack_escape(title)}”"
    text = f"<@{requester}> named you in the request “{slack_plain(title, 300)}”"
    blocks: list[Block] = [
        section(f":wave: <@{requester}> named you as *{slack_escape(as_what)}* in their "
                f"*{slack_escape(model_name)}* request {what}. You'll get its reminders, like they do."),
        {"type": "actions", "elements": [button("Step out", Action.STEP_OUT, value=str(request_id))]},
        context("Not you, or not now? Step out: your reminders stop, and the GitLab issue says so."),
    ]
    return text, blocks


def stepped_out_view(title: str) -> tuple[str, list[Block]]:
    """What the DM becomes once its person stepped out (no button left to press)."""
    text = f"You stepped out of “{slack_plain(title, 300)}”: no more reminders about it."
    return text, [section(f":door: You stepped out of *{slack_escape(title)}*: no more reminders about it.")]


def stepped_out_notice(*, title: str, who: str) -> tuple[str, list[Block]]:
    """To the requester: someone they named stepped out."""
    text = f"<@{who}> stepped out of your request “{slack_plain(title, 300)}” and no longer gets its reminders."
    return text, [section(f":door: {text}")]
