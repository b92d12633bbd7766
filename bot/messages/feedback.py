"""After launch: the outcome check-in DM, the satisfaction DM, and what each turns into once answered."""

from __future__ import annotations

from bot.domain.feedback import NOTE_MAX, OUTCOME_ANSWERS, RATING_WORDS, RATINGS
from bot.domain.safe_text import slack_plain
from bot.messages.ids import Action
from bot.messages.kit import Block, button, context, link, plain, section

NOTE_BLOCK = "note"  # the optional note's input block: its value arrives with the button's click


def _title(request_title: str, issue_url: str | None) -> str:
    return link(issue_url, request_title) if issue_url else f"*{slack_plain(request_title, 300)}*"


def _quote(text: str, limit: int = 1500) -> str:
    return "\n".join("&gt; " + line for line in slack_plain(text, limit).split("\n"))


def _note_input(label: str, placeholder: str) -> Block:
    return {"type": "input", "block_id": NOTE_BLOCK, "optional": True, "label": plain(label, 2000),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                        "max_length": NOTE_MAX, "placeholder": plain(placeholder, 150)}}


def checkin_message(*, checkin_id: int, request_title: str, issue_url: str | None, after_days: int,
                    expected: str | None, nudge: bool = False) -> tuple[str, list[Block]]:
    """`after_days` after launch: what the requester expected at intake, and did it happen?"""
    lead = ":wave: Still open, one last time:" if nudge else ":seedling:"
    if expected:
        asked = (f"{lead} {_title(request_title, issue_url)} launched {after_days} days ago. At intake you wrote "
                 f"what would be different:\n{_quote(expected)}\nDid it happen?")
    else:
        asked = (f"{lead} {_title(request_title, issue_url)} launched {after_days} days ago. You did not write "
                 "down at intake what would be different; looking back, did it make the difference you hoped for?")
    buttons = [button(label, f"{Action.OUTCOME_ANSWER.value}:{answer}", value=str(checkin_id),
                      style="primary" if answer == "happened" else None)
               for answer, label in OUTCOME_ANSWERS.items()]
    blocks: list[Block] = [
        section(asked),
        _note_input("Anything to add? (optional, before you pick an answer)",
                    "What changed, how you know, what is still missing"),
        {"type": "actions", "block_id": f"outcome-{checkin_id}", "elements": buttons},
        context("Your answer and note go to the issue as a note for the L&D team."
                + ("" if nudge else " If you have no answer yet, we ask once more in a week, then stop.")),
    ]
    text = f"{'Still open: ' if nudge else ''}did “{slack_plain(request_title, 200)}” make a difference?"
    return text, blocks


def checkin_answered(*, request_title: str, issue_url: str | None, after_days: int, answer: str,
                     note: str | None, actor: str) -> tuple[str, list[Block]]:
    """What the check-in DM turns into once answered (no buttons left to press)."""
    label = OUTCOME_ANSWERS.get(answer, answer)
    blocks: list[Block] = [section(f"{_title(request_title, issue_url)}, {after_days} days after launch: "
                                   f"*{slack_plain(label, 100)}*")]
    if note:
        blocks.append(section(_quote(note)))
    blocks.append(context(f":white_check_mark: Noted on the issue for the L&D team — <@{actor}>. Thank you!"))
    return f"{slack_plain(request_title, 200)}: {label}", blocks


def satisfaction_message(*, rating_id: int, request_title: str, issue_url: str | None) -> tuple[str, list[Block]]:
    """The request has ended: one question, 1 to 5, with an optional comment."""
    buttons = [button(f"{n} {RATING_WORDS[n]}", f"{Action.SATISFACTION_RATE.value}:{n}", value=str(rating_id))
               for n in RATINGS]
    blocks: list[Block] = [
        section(f":star: {_title(request_title, issue_url)} is done. How well did the L&D team support you, "
                "from 1 (very poor) to 5 (excellent)?"),
        _note_input("Comment (optional, before you pick a rating)", "What went well, what would have helped"),
        {"type": "actions", "block_id": f"rate-{rating_id}", "elements": buttons},
        context("Asked once. Your rating goes to the issue as a note and helps the L&D team plan its work."),
    ]
    return f"How did the L&D team do on “{slack_plain(request_title, 200)}”?", blocks


def satisfaction_answered(*, request_title: str, issue_url: str | None, rating: int, comment: str | None,
                          actor: str) -> tuple[str, list[Block]]:
    stars = ":star:" * rating
    blocks: list[Block] = [section(f"{_title(request_title, issue_url)}: you rated it *{rating} / 5* {stars}")]
    if comment:
        blocks.append(section(_quote(comment)))
    blocks.append(context(f":white_check_mark: Noted on the issue for the L&D team — <@{actor}>. Thank you!"))
    return f"{slack_plain(request_title, 200)}: rated {rating} / 5", blocks
