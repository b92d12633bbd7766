"""After launch: the live-session follow-up DM and form, the evergreen review DM, and what L&D is told."""

from __future__ import annotations

import json
from datetime import date

from bot.domain.after_launch import FOLLOW_UP_FIELDS, FollowUp
from bot.domain.safe_text import slack_escape, slack_plain
from bot.messages.ids import Action, Callback
from bot.messages.kit import PLAIN_TEXT_TITLE_MAX, Block, button, context, link, plain, section


def _title(request_title: str, issue_url: str | None) -> str:
    return link(issue_url, request_title) if issue_url else f"*{slack_plain(request_title, 300)}*"


def _snoozes(reminder_id: int) -> list[Block]:
    return [button("Snooze 1 day", Action.REMINDER_SNOOZE_DAY, value=str(reminder_id)),
            button("Snooze 1 week", Action.REMINDER_SNOOZE_WEEK, value=str(reminder_id))]


def follow_up_message(*, reminder_id: int, step: str, request_title: str, issue_url: str | None,
                      nudge: bool = False) -> tuple[str, list[Block]]:
    """The day after the session: a DM to each host with a button that opens the follow-up form."""
    lead = ":wave: Still open:" if nudge else ":clapper: Thanks for hosting!"
    body: list[Block] = [
        section(f"{lead} How did {_title(request_title, issue_url)} go?\nTell the L&D team in one short form: "
                f"attendance, the recording, anything to fix next time. It also ticks *{slack_escape(step)}*."),
    ]
    elements = [button("Fill in the follow-up", Action.FOLLOW_UP_OPEN, value=str(reminder_id), style="primary"),
                *_snoozes(reminder_id)]
    if issue_url:
        elements.append(button("Open issue", Action.OPEN_ISSUE, url=issue_url))
    body.append({"type": "actions", "block_id": f"follow-up-{reminder_id}", "elements": elements})
    if nudge:
        body.append(context("If it is not filled in, the step shows as overdue to you and the L&D team."))
    text = f"{'Still open: ' if nudge else ''}follow-up for “{slack_plain(request_title, 200)}”"
    return text, body


def review_message(*, reminder_id: int, request_title: str, issue_url: str | None, interval: str,
                   nudge: bool = False) -> tuple[str, list[Block]]:
    """The evergreen review: is the content still accurate?"""
    body: list[Block] = [
        section(f":recycle: Time for the evergreen review of {_title(request_title, issue_url)}.\n"
                "Content stays handbook first, so it ages with the handbook: is it still accurate?"),
    ]
    retire = button("Retire", Action.REVIEW_RETIRE, value=str(reminder_id), style="danger")
    retire["confirm"] = {
        "title": plain("Retire this content?", 100),
        "text": plain("The L&D team is asked to unpublish it; the issue gets a note and a label.", 300),
        "confirm": plain("Retire", 30), "deny": plain("Cancel", 30),
    }
    elements = [button("Still accurate", Action.REVIEW_ACCURATE, value=str(reminder_id), style="primary"),
                button("Needs an update", Action.REVIEW_UPDATE, value=str(reminder_id)), retire,
                button("Snooze 1 week", Action.REMINDER_SNOOZE_WEEK, value=str(reminder_id))]
    body.append({"type": "actions", "block_id": f"review-{reminder_id}", "elements": elements})
    body.append(context(f"Still accurate: the next review is in {slack_escape(interval)}. Needs an update: a "
                        "content review request opens, filled in from this one. Retire: L&D unpublishes it."))
    return f"Evergreen review: is “{slack_plain(request_title, 200)}” still accurate?", body


def outcome_message(*, request_title: str, issue_url: str | None, what: str, actor: str) -> tuple[str, list[Block]]:
    """What a follow-up or review DM turns into once it is answered."""
    body = [section(f"{_title(request_title, issue_url)}"), context(f":white_check_mark: {what} — <@{actor}>")]
    return f"{slack_plain(request_title, 200)}: {what}", body


def follow_up_modal(*, reminder_id: int, request_title: str, recorded: bool) -> Block:
    blocks: list[Block] = [section(f"*{slack_plain(request_title, 500)}*\nYour answers go to the GitLab issue as "
                                   "a note, and the recording step is ticked.")]
    for spec in FOLLOW_UP_FIELDS:
        if spec.type == "number":
            element: Block = {"type": "number_input", "is_decimal_allowed": False, "action_id": "value",
                              "min_value": "0"}
        else:
            element = {"type": "plain_text_input", "action_id": "value", "multiline": spec.type == "long_text",
                       "max_length": spec.max_length or 3000}
        optional = not spec.required and not (recorded and spec.id in ("recording_url", "handbook_url"))
        block: Block = {"type": "input", "block_id": spec.id, "label": plain(spec.label, 2000), "element": element,
                        "optional": optional}
        if spec.hint:
            block["hint"] = plain(spec.hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": Callback.FOLLOW_UP.value,
        "private_metadata": json.dumps({"reminder": reminder_id}),
        "title": plain("Session follow-up", PLAIN_TEXT_TITLE_MAX),
        "submit": plain("Send", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Cancel", PLAIN_TEXT_TITLE_MAX),
        "blocks": blocks,
    }


def follow_up_thanks_view(request_title: str) -> Block:
    return {
        "type": "modal",
        "title": plain("Thank you", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Done", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section(f":white_check_mark: The follow-up of *{slack_plain(request_title, 500)}* is saved. "
                           "It goes to the issue as a note, and the L&D team is told.")],
    }


def message_view(title: str, text: str) -> Block:
    return {"type": "modal", "title": plain(title, PLAIN_TEXT_TITLE_MAX), "close": plain("Close", PLAIN_TEXT_TITLE_MAX),
            "blocks": [section(slack_escape(text))]}


def ld_follow_up(*, request_title: str, issue_url: str | None, answers: FollowUp,
                 who: str) -> tuple[str, list[Block]]:
    """The L&D channel hears about a session's follow-up."""
    lines = [f":clapper: Follow-up of {_title(request_title, issue_url)} from <@{who}>",
             f"Attendance: *{answers.attendance}*"]
    if answers.recording_url:
        lines.append(f"Recording: {link(answers.recording_url, 'watch')}"
                     + (f" · linked from {link(answers.handbook_url, 'the handbook')}" if answers.handbook_url else ""))
    if answers.notes:
        lines.append("To fix next time: " + slack_plain(answers.notes, 1500))
    return f"Live session follow-up: {slack_plain(request_title, 200)}", [section("\n".join(lines))]


def ld_retire(*, request_title: str, issue_url: str | None, who: str) -> tuple[str, list[Block]]:
    return (f"Retire: {slack_plain(request_title, 200)}",
            [section(f":wastebasket: <@{who}> asks to *retire* {_title(request_title, issue_url)}: it is no longer "
                     "accurate. Please unpublish it from GitLab Learn and the handbook page that links it.")])


def next_review_note(next_on: date) -> str:
    return f"Still accurate — next review {next_on:%a} {next_on.isoformat()}"
