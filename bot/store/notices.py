"""The notice outbox: messages owed to people, stored with the change they report, claimed for sending."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import Notice


def enqueue(session: Session, *, key: str, recipient: str, text: str, blocks: list[Any] | None = None,
            request_id: int | None = None, thread_ts: str | None = None, due_at: datetime) -> Notice:
    """Owe `recipient` this message once. A second enqueue with the same key returns the first notice.

    Call it in the transaction that makes the change the notice reports: both are kept, or neither.
    """
    existing = session.scalars(select(Notice).where(Notice.key == key)).first()
    if existing is not None:
        return existing
    # Another transaction may add the same key meanwhile: the unique key makes one of them fail
    # at commit, and that one's change is retried with it, so the person is still told once.
    notice = Notice(key=key, recipient=recipient, text=text, blocks=blocks, request_id=request_id,
                    thread_ts=thread_ts, due_at=due_at)
    session.add(notice)
    session.flush()
    return notice
