"""The notice outbox: messages owed to people, stored with the change they report, claimed for sending."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.store.models import Notice

LEASE = timedelta(minutes=2)


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


def _claimable(now: datetime) -> Any:
    return select(Notice).where(
        Notice.sent_at.is_(None), Notice.failed_at.is_(None), Notice.due_at <= now,
        or_(Notice.claimed_until.is_(None), Notice.claimed_until < now),
    )


def due_query(now: datetime) -> Any:
    """The notices a pass at `now` would claim (read only: no lock, no lease)."""
    return _claimable(now).order_by(Notice.due_at, Notice.id)


def _lock(session: Session, query: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def claim_due(session: Session, *, now: datetime, limit: int = 100, lease: timedelta = LEASE) -> list[Notice]:
    notices = list(session.scalars(_lock(session, _claimable(now).order_by(Notice.due_at, Notice.id).limit(limit))))
    for n in notices:
        n.claimed_until = now + lease
        n.attempts += 1
    return notices


def claim(session: Session, notice_id: int, *, now: datetime, lease: timedelta = LEASE) -> Notice | None:
    notice = session.scalars(_lock(session, _claimable(now).where(Notice.id == notice_id))).first()
    if notice is not None:
        notice.claimed_until = now + lease
        notice.attempts += 1
    return notice
