"""`/learn report [FROM [TO]]`: L&D admins get the report in their DM with learnbot; anyone else is told,
privately, that it is for the L&D team.

The answer is local work (who is asking, the period, one row stored); the report is built and posted after
it (services.after_answer), and the stored row means the worker sends it if this process cannot. A DM rather
than an ephemeral message: an ephemeral one vanishes on reload and cannot carry the chart and the CSV.
"""

from __future__ import annotations

from typing import Any

from bot.container import Services
from bot.domain.report import ReportDateError
from bot.domain.safe_text import slack_escape
from bot.messages.report import report_coming, report_refused
from bot.services.report import asked_period


def answer(services: Services, command: dict[str, Any]) -> dict[str, Any]:
    """What to ack /learn report with (a slash command's answer is seen only by who typed it)."""
    user = command["user_id"]
    if user not in services.settings.admins:
        text, blocks = report_refused()
        return {"text": text, "blocks": blocks}
    words = (command.get("text") or "").split()[1:3]
    now = services.clock()
    try:
        period = asked_period(words[0] if words else None, words[1] if len(words) > 1 else None, now=now,
                              zone=services.settings.timezone)
    except ReportDateError as exc:
        return {"text": f"{slack_escape(str(exc))}. Try `/learn report` (the last full month) or "
                        "`/learn report 2026-11-01 2026-11-30`."}
    post_id = services.report_posts.request_dm(user, period, now=now)
    services.after_answer.submit("report.send", services.report_posts.send, post_id, now=now)
    text, blocks = report_coming(period.label())
    return {"text": text, "blocks": blocks}
