"""The milestone reminder DM and what it turns into once someone presses a button."""

from __future__ import annotations

from typing import Any

from bot.domain.safe_text import slack_escape, slack_plain
from bot.messages.ids import Action
from bot.messages.kit import Block, button, context, link, section


def reminder_message(*, reminder_id: int, step: str, due_on: Any, request_title: str, issue_url: str | None,
                     late: bool, state: str = "pending", actor: str | None = None,
                     note: str | None = None) -> tuple[str, list[Block]]:
    """A milestone reminder DM; `state` done/snoozed replaces the buttons with what happened."""
    title = link(issue_url, request_title) if issue_url else f"*{slack_plain(request_title, 300)}*"
    day = f"{due_on:%A} {due_on.isoformat()}"
    body: list[Block] = [section(f":alarm_clock: *{slack_escape(step)}* is due {day}\nfor {title}")]
    if late and state == "pending":
        body.append(context(":warning: This step is late: the plan was shorter than it needs, so it is due now."))
    if state == "pending":
        elements = [
            button("Done", Action.REMINDER_DONE, value=str(reminder_id), style="primary"),
            button("Snooze 1 day", Action.REMINDER_SNOOZE_DAY, value=str(reminder_id)),
            button("Snooze 1 week", Action.REMINDER_SNOOZE_WEEK, value=str(reminder_id)),
        ]
        if issue_url:
            elements.append(button("Open issue", Action.OPEN_ISSUE, url=issue_url))
        body.append({"type": "actions", "block_id": f"reminder-{reminder_id}", "elements": elements})
    elif state == "done":
        body.append(context(f":white_check_mark: Done — marked by <@{actor}>" + (f" {note}" if note else "")))
    elif state == "snoozed":
        body.append(context(f":zzz: Snoozed by <@{actor}> until {note}"))
    text = f"Reminder: {slack_plain(step, 200)} is due {day} for “{slack_plain(request_title, 200)}”"
    return text, body

