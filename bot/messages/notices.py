"""Direct messages about a request: filed, delayed, failed, closed, changed in GitLab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.catalog import SupportModel
from bot.domain.safe_text import slack_escape, slack_plain
from bot.messages.ids import Action
from bot.messages.kit import Block, button, context, link, plan_lines, section


def request_filed(request: Any, model: SupportModel | None) -> tuple[str, list[Block]]:
    """The DM that tells a requester their issue is open, with its plan."""
    name = model.name if model else request.support_model
    url = request.gitlab_url or ""
    ref = f"#{request.gitlab_iid}"
    blocks: list[Block] = [section(
        f":tada: Your *{slack_escape(name)}* request is filed as {link(url, request.title)} ({ref}).",
    )]
    milestones: Sequence[Any] = list(request.milestones)
    if milestones:
        blocks.append(section("*Your plan*\n" + plan_lines(milestones)))
        if request.plan_compressed:
            blocks.append(context(":warning: The launch is less than the plan needs, so late steps are due now."))
    elements = [button("Open issue", Action.OPEN_ISSUE, url=url)]
    if model is not None and model.plan is not None and milestones:
        elements.append(button("Change date", Action.REQUEST_CHANGE_DATE, value=str(request.id)))
    elements.append(button("Close request", Action.REQUEST_CLOSE, value=str(request.id), style="danger"))
    blocks.append({"type": "actions", "elements": elements})
    if milestones:
        blocks.append(context(":bell: I'll DM you (and any co-owners) on each date, at the start of your day."))
    text = f"Your request “{slack_plain(request.title, 300)}” is filed as {ref}: {url}"
    return text, blocks


def filing_delayed(title: str) -> tuple[str, list[Block]]:
    text = (f":hourglass_flowing_sand: Your request “{slack_plain(title, 300)}” is saved, but GitLab isn't "
            "answering right now. I'll keep trying and send you the link as soon as the issue is open; "
            "there's nothing you need to do.")
    return text, [section(text)]


def filing_failed(title: str, error: str, *, by_gitlab: bool = True) -> tuple[str, list[Block]]:
    if by_gitlab:
        text = (f":x: GitLab refused to open the issue for your request “{slack_plain(title, 300)}”: "
                f"{slack_plain(error, 500)}. Your answers are saved; the L&D team can help.")
    else:
        text = (f":x: Your request “{slack_plain(title, 300)}” could not be filed: {slack_plain(error, 500)}. "
                "This is a fault in learnbot's setup, not in your answers: they are saved, and the L&D team "
                "has been told.")
    return text, [section(text)]


def filing_failed_for_admins(*, title: str, request_id: int, model: str, requester: str, error: str,
                             by_gitlab: bool) -> tuple[str, list[Block]]:
    """What the L&D admins are told, once, about a request that cannot be filed."""
    fix = ("Check the GitLab project, the token's access and the labels." if by_gitlab else
           "Fix the catalogue (run `learnbot check`), then file it again.")
    text = (f":rotating_light: Request {request_id} “{slack_plain(title, 300)}” ({slack_plain(model, 40)}) from "
            f"<@{requester}> could not be filed: {slack_plain(error, 800)}. {fix}")
    return text, [section(text)]


def notice(text: str) -> tuple[str, list[Block]]:
    return text, [section(text)]


RECORDS_UNREADABLE = ("learnbot can't read its records right now, so nothing was shown or changed. "
                      "The L&D team's tools are being fixed: please try again in a few minutes.")


def records_unreadable() -> tuple[str, list[Block]]:
    """The answer to someone whose command or button needed the database while it is out of reach."""
    return RECORDS_UNREADABLE, [section(f":warning: {RECORDS_UNREADABLE}")]


def request_closed(title: str, *, closed_by: str) -> tuple[str, list[Block]]:
    """What a request's confirmation DM becomes once it is closed: no more buttons to press."""
    text = f"“{slack_plain(title, 300)}” is closed; its reminders have stopped."
    return text, [section(f":lock: *{slack_escape(title)}* is closed; its reminders have stopped."),
                  context(f"Closed by <@{closed_by}>. The GitLab issue is closed too.")]




def issue_changed(*, title: str, url: str | None, lines: Sequence[str]) -> tuple[str, list[Block]]:
    """One DM for everything one GitLab event changed on a request (never one per field)."""
    name = link(url, title) if url else f"*{slack_escape(title)}*"
    shown = [f"• {slack_escape(line)}" for line in lines[:20]]
    body = section(f":arrows_counterclockwise: Your request {name} changed in GitLab\n" + "\n".join(shown))
    text = f"Your request “{slack_plain(title, 200)}” changed in GitLab: " + slack_plain("; ".join(lines), 1500)
    return text, [body]
