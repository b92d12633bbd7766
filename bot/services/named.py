"""The people a request names (hosts, co-owners): told once that they were named, free to step out.

Naming someone gives them every reminder of the request, so each person named hears it once, in
their DM (a notice keyed by request and person: owed once, sent like every notice), with a Step out
button. Stepping out stops their reminders, takes them off the request's answers (so accepting it
later, or its evergreen review, plans none for them) and owes the GitLab issue a note that says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain.routing import co_owners
from bot.domain.safe_text import gitlab_user_text
from bot.messages import named as messages
from bot.services.after_launch import AfterLaunchService
from bot.services.notices import NoticeService
from bot.store import notices as outbox
from bot.store import reminders as reminder_queries
from bot.store.db import Database, insert_rows
from bot.store.models import Notice, Person, Request, RequestStatus

log = logging.getLogger(__name__)
KEY = "named:{request}:{person}"


def tell_named(session: Session, request: Request, model: SupportModel, now: datetime) -> None:
    """In the submission's transaction: one notice owed to each person the request names (not the requester).

    One INSERT for all of them, and none when it names nobody: the request is new, so no notice of
    theirs can exist yet. They are sent after Slack's answer (send_owed), or by the worker's next pass.
    """
    answers = request.answers or {}
    named = [(person, model.field(field_id).label) for field_id in model.co_owner_fields
             for person in co_owners(model, {field_id: answers.get(field_id)}, request.requester_id)]
    named = list({person: label for person, label in named}.items())  # someone in two fields: told once
    if not named:
        return
    if request.id is None:
        session.flush()  # the request's id, for the notices' keys
    rows = []
    for person, label in named:
        text, blocks = messages.named_notice(request_id=request.id, title=request.title, model_name=model.name,
                                             requester=request.requester_id, as_what=label)
        rows.append({"key": KEY.format(request=request.id, person=person), "recipient": person, "text": text,
                     "blocks": blocks, "request_id": request.id, "due_at": now})
    session.execute(insert_rows(Notice), rows)


class NotNamed(Exception):
    """The person pressing Step out is not (or no longer) named on the request: the message says why."""


@dataclass(frozen=True)
class SteppedOut:
    title: str
    notice_ids: tuple[int, ...]


class NamedService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, notices: NoticeService):
        self.db = db
        self.catalog = catalog
        self.notices = notices

    def send_owed(self, request_id: int, *, now: datetime) -> None:
        """Send this request's "you were named" notices now rather than at the worker's next pass."""
        with self.db.session() as s:
            ids = list(s.scalars(select(Notice.id).where(
                Notice.request_id == request_id, Notice.key.like(f"named:{request_id}:%"), Notice.sent_at.is_(None))))
        for notice_id in ids:
            self.notices.send(notice_id, now=now)

    def step_out(self, request_id: int, *, user_id: str, now: datetime) -> SteppedOut:
        """Only the person named steps themselves out: their reminders stop, the issue gets a note."""
        with self.db.session() as s:
            request = s.get(Request, request_id, options=[selectinload(Request.milestones)])
            if request is None:
                raise NotNamed("This request no longer exists.")
            model = self.catalog.model(request.support_model)
            if user_id == request.requester_id:
                raise NotNamed("You made this request, so you cannot step out of it; close it instead.")
            answers = dict(request.answers or {})
            fields = [f for f in (model.co_owner_fields if model else ())
                      if user_id in _people(answers.get(f))]
            if model is None or not fields:
                raise NotNamed("You are not named on this request (any more), so there is nothing to step out of.")
            if request.status in (RequestStatus.CLOSED, RequestStatus.FAILED):
                raise NotNamed("This request is closed: its reminders have stopped already.")
            for f in fields:
                value = answers[f]
                answers[f] = None if isinstance(value, str) else [p for p in _people(value) if p != user_id]
            request.answers = answers
            request.updated_at = now
            reminder_queries.cancel_pending(s, [m.id for m in request.milestones], now=now, recipient=user_id)
            person = s.get(Person, user_id)
            name = person.display_name if person is not None and person.display_name else user_id
            labels = ", ".join(model.field(f).label for f in fields)
            AfterLaunchService._note(s, request, kind="step-out", who=user_id, now=now, body=(
                f"**{gitlab_user_text(name)} stepped out** ({gitlab_user_text(labels)}), via learnbot: "
                "they no longer get this request's reminders."))
            text, blocks = messages.stepped_out_notice(title=request.title, who=user_id)
            told = outbox.enqueue(s, key=f"stepped-out:{request.id}:{user_id}", recipient=request.requester_id,
                                  text=text, blocks=blocks, request_id=request.id, due_at=now)
            log.info("request %s: %s stepped out", request.id, user_id)
            return SteppedOut(title=request.title, notice_ids=(told.id,))


def _people(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(p) for p in value] if isinstance(value, list) else []
