"""Queries on reminders: changing them in bulk (claiming due ones is bot/store/queues.py's REMINDERS)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.store.models import Milestone, Reminder


def cancel_pending(session: Session, milestone_ids: Iterable[int], *, now: datetime,
                   recipient: str | None = None) -> None:
    """Cancel the unsent reminders of these milestones (only `recipient`'s, if given)."""
    ids = list(milestone_ids)
    if ids:
        mine = (Reminder.recipient_id == recipient,) if recipient is not None else ()
        session.execute(
            update(Reminder)
            .where(Reminder.milestone_id.in_(ids), Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None), *mine)
            .values(cancelled_at=now, claimed_until=None)
        )


def for_request(session: Session, request_id: int) -> list[Reminder]:
    return list(session.scalars(
        select(Reminder).join(Milestone).where(Milestone.request_id == request_id).order_by(Reminder.id)
    ))
