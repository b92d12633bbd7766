"""Queries on reminders: claiming due ones (index-served, O(due)) and changing them in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from bot.store.models import Milestone, Reminder

LEASE = timedelta(minutes=5)


def due_query(now: datetime, limit: int) -> Select[Reminder]:
    """Pending reminders due by `now`: the WHERE matches ix_reminders_pending_due's predicate."""
    return (
        select(Reminder)
        .where(
            Reminder.sent_at.is_(None),
            Reminder.cancelled_at.is_(None),
            Reminder.due_at <= now,
            or_(Reminder.claimed_until.is_(None), Reminder.claimed_until < now),
        )
        .order_by(Reminder.due_at, Reminder.id)
        .limit(limit)
    )


def claim_due(session: Session, *, now: datetime, limit: int = 100, lease: timedelta = LEASE) -> list[int]:
    """Lease up to `limit` due reminders to this worker; others skip the locked rows (PostgreSQL)
    or wait for this transaction to end (SQLite's single writer)."""
    query = due_query(now, limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = list(session.scalars(query))
    for r in claimed:
        r.claimed_until = now + lease
        r.attempts += 1
    return [r.id for r in claimed]


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
