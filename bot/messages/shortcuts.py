"""The shortcuts' surfaces: the support-model chooser both shortcuts open, and what the person is told."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.catalog import SupportModel
from bot.domain.safe_text import slack_plain
from bot.messages.ids import Action, Callback
from bot.messages.kit import PLAIN_TEXT_TITLE_MAX, Block, context, link, plain, section

PREVIEW_MAX = 600


def chooser_modal(models: Sequence[SupportModel], *, source: int | None = None, preview: str | None = None,
                  permalink: str | None = None, suggested: int = 0) -> Block:
    """Pick a support model; choosing one turns this modal into that model's form (views.update).

    `models` come in the order to show them (the ones that fit the message first); the first
    `suggested` of them are grouped as suggestions.
    """
    def option(m: SupportModel) -> Block:
        return {"text": plain(m.name, 75), "value": m.key, "description": plain(m.summary.replace("*", ""), 75)}

    select: Block = {"type": "static_select", "action_id": Action.MODEL_CHOSEN.value,
                     "placeholder": plain("Choose what you need", 150)}
    if 0 < suggested < len(models):
        select["option_groups"] = [
            {"label": plain("Fits this message", 75), "options": [option(m) for m in models[:suggested]]},
            {"label": plain("Other support models", 75), "options": [option(m) for m in models[suggested:]]},
        ]
    else:
        select["options"] = [option(m) for m in models]
    blocks: list[Block] = []
    if source is not None:
        quoted = slack_plain(preview or "", PREVIEW_MAX) or "_(no text)_"
        blocks.append(section("*Send this message to the L&D team*\n>" + quoted.replace("\n", "\n>")))
        if permalink:
            blocks.append(context(link(permalink, "Original message") + " — linked from the issue."))
    else:
        blocks.append(section("*New L&D request*\nWhat do you need? The form for it opens here."))
    blocks.append({"type": "section", "block_id": "model", "text": {"type": "mrkdwn", "text": "Support model"},
                   "accessory": select})
    return {
        "type": "modal",
        "callback_id": Callback.CHOOSE_MODEL.value,
        "private_metadata": json.dumps({"source": source} if source is not None else {}),
        "title": plain("L&D request", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Cancel", PLAIN_TEXT_TITLE_MAX),
        "blocks": blocks,
    }


def message_gone_view() -> Block:
    return {
        "type": "modal",
        "title": plain("L&D request", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Close", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section("This form is out of date. Use *Send to L&D* on the message again.")],
    }


def sent_confirmation(title: str) -> tuple[str, list[Block]]:
    """The ephemeral note where the shortcut was used, once the request is saved."""
    text = f"Sent to L&D: {title}. I'll DM you the issue link."
    return text, [section(f":white_check_mark: *Sent to L&D:* {slack_plain(title, 500)}\n"
                          "I'm opening the GitLab issue and will DM you the link.")]


def thread_reply(title: str, url: str) -> tuple[str, list[Block]]:
    """The optional reply on the original message (LEARNBOT_SHORTCUT_THREAD_REPLY)."""
    return (f"An L&D request was opened: {url}",
            [section(f":books: An L&D request was opened: {link(url, title)}")])
