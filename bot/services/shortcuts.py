"""The shortcuts: "Send to L&D" on a message and "New L&D request" from anywhere, up to the model's form.

Listeners answer Slack first; the modal opens straight after (a trigger id lives 3 seconds), and
what needs a slower look-up (the message's permalink, the person's time zone) comes after that,
updating the modal that is already open rather than opening one late.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog, SupportModel
from bot.catalog.schema import SLACK_INPUT_MAX
from bot.domain.from_message import cut, fallback_permalink, fit, message_extras, plain_text, rank_models
from bot.gateways.slack import SlackFailure, SlackGateway
from bot.messages import forms, shortcuts
from bot.services.people import PeopleService
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import MessageSource, Request

log = logging.getLogger(__name__)
# Longer than any form field (Slack's input limit is 3,000); the form cuts it to its field's limit.
STORED_TEXT_MAX = 12_000


class SourceGone(LookupError):
    """The stored message behind a form does not exist or belongs to someone else."""


class ShortcutService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, people: PeopleService,
                 thread_reply: bool = False):
        self.db = db
        self.catalog = catalog
        self.slack = slack
        self.people = people
        self.thread_reply = thread_reply

    # --- the chooser ------------------------------------------------------------------------

    def _ranked(self, text: str) -> tuple[list[SupportModel], int]:
        models = self.catalog.models
        order = rank_models(text, [(m.key, m.keywords) for m in models])
        by_key = {m.key: m for m in models}
        ranked = [by_key[k] for k in order]
        words = text.lower()
        suggested = sum(1 for m in ranked if any(k.lower() in words for k in m.keywords))
        return ranked, suggested

    def new_request_view(self) -> dict[str, Any]:
        return shortcuts.chooser_modal(self.catalog.models)

    def store_message(self, *, user_id: str, channel_id: str, message: dict[str, Any], response_url: str | None,
                      now: datetime) -> tuple[int, dict[str, Any]]:
        """Keep the message (its text can be far longer than a modal may carry) and build the chooser."""
        text = plain_text(str(message.get("text") or "")).strip()
        with self.db.session() as s:
            source = MessageSource(user_id=user_id, channel_id=channel_id, message_ts=str(message.get("ts") or ""),
                                   text=cut(text, STORED_TEXT_MAX), extras=message_extras(message)[:STORED_TEXT_MAX],
                                   response_url=(response_url or None), created_at=now)
            s.add(source)
            s.flush()
            source_id = source.id
        ranked, suggested = self._ranked(text)
        return source_id, shortcuts.chooser_modal(ranked, source=source_id, preview=text, suggested=suggested)

    def open_chooser(self, trigger_id: str, view: dict[str, Any], *, user_id: str, source_id: int | None,
                     now: datetime) -> None:
        """Open the chooser with the trigger id at once; then the slow look-ups, then update it in place."""
        opened = self.slack.open_view(trigger_id, view)
        if source_id is not None:
            with self.db.session() as s:
                source = s.get(MessageSource, source_id)
                assert source is not None
                channel, ts = source.channel_id, source.message_ts
            link = self.slack.permalink(channel, ts)
            if link is not None:
                with self.db.session() as s:
                    row = s.get(MessageSource, source_id)
                    assert row is not None
                    row.permalink = link
                    text = row.text
                ranked, suggested = self._ranked(text)
                updated = shortcuts.chooser_modal(ranked, source=source_id, preview=text, permalink=link,
                                                  suggested=suggested)
                try:  # the hash makes this lose to the person's own choice if they were quicker
                    self.slack.update_view(opened["id"], updated, opened.get("hash"))
                except SlackFailure as exc:
                    log.info("chooser %s not updated with the link: %s", opened.get("id"), exc)
        # Their time zone, before they press Submit: "is this date in the past?" is asked in their calendar.
        self.people.refresh(user_id, now=now)

    def form_for(self, *, user_id: str, model_key: str, source_id: int | None) -> dict[str, Any]:
        """The chosen model's form, pre-filled from the stored message when there is one."""
        model = self.catalog.model(model_key)
        if model is None:
            return forms.model_gone_view(model_key)
        initial: dict[str, str] = {}
        if source_id is not None:
            with self.db.session() as s:
                source = s.get(MessageSource, source_id)
                if source is None or source.user_id != user_id:
                    return shortcuts.message_gone_view()
                target = model.prefill_field()
                if target is not None:
                    limit = target.max_length or SLACK_INPUT_MAX
                    initial[target.id] = fit(source.text, source.extras, limit)
        return forms.request_modal(model, requester=user_id, initial=initial, source=source_id)

    def show_form(self, *, view_id: str, view_hash: str | None, user_id: str, model_key: str,
                  source_id: int | None) -> None:
        """Turn the chooser into the chosen model's form (views.update: no trigger id needed)."""
        # No hash: the person's choice wins over the link update racing it (which does carry one).
        self.slack.update_view(view_id, self.form_for(user_id=user_id, model_key=model_key, source_id=source_id))

    # --- after submission -------------------------------------------------------------------

    @staticmethod
    def attach(session: Session, source_id: int, *, user_id: str, request_id: int) -> bool:
        """Tie the stored message to the request it became (in the request's own transaction)."""
        source = session.get(MessageSource, source_id)
        if source is None or source.user_id != user_id:
            return False
        source.request_id = request_id
        return True

    def confirm(self, request_id: int) -> None:
        """The ephemeral "sent to L&D" where the person used the shortcut (through the interaction's
        response_url, so it also works in a channel the bot is not in)."""
        with self.db.session() as s:
            source = s.scalars(select(MessageSource).where(MessageSource.request_id == request_id)).first()
            request = s.get(Request, request_id)
            if source is None or request is None or not source.response_url:
                return
            url, title = source.response_url, request.title
        text, blocks = shortcuts.sent_confirmation(title)
        self.slack.respond(url, text, blocks)

    @staticmethod
    def source_link(session: Session, request_id: int) -> str | None:
        """The link to the message a request came from, for the issue (a fallback link if Slack gave none)."""
        source = session.scalars(select(MessageSource).where(MessageSource.request_id == request_id)).first()
        if source is None:
            return None
        return source.permalink or fallback_permalink(source.channel_id, source.message_ts)

    def owe_thread_reply(self, session: Session, request: Request, *, now: datetime) -> int | None:
        """With LEARNBOT_SHORTCUT_THREAD_REPLY: a reply on the original message, owed once, stored with the filing."""
        if not self.thread_reply or not request.gitlab_url:
            return None
        source = session.scalars(select(MessageSource).where(MessageSource.request_id == request.id)).first()
        if source is None:
            return None
        text, blocks = shortcuts.thread_reply(request.title, request.gitlab_url)
        return outbox.enqueue(session, key=f"source-reply:{request.id}", recipient=source.channel_id, text=text,
                              blocks=blocks, request_id=request.id, thread_ts=source.message_ts, due_at=now).id
