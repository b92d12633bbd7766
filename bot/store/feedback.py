"""Tables of what requesters tell the L&D team after launch: outcome check-ins and satisfaction ratings.

Kept beside models.py (same Base, same naming) because that module is at its size limit; the report
(issue 17) counts these rows.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class OutcomeCheckin(Base):
    """One "did it make the difference?" DM to a request's requester, `after_days` after its launch.

    Planned when the launch date is known (filing, a re-plan, a plan-less model's publication); asked at
    the requester's reminder hour on `due_on`; nudged once if unanswered; answered once.
    """

    __tablename__ = "outcome_checkins"
    __table_args__ = (
        UniqueConstraint("request_id", "after_days", name="uq_outcome_checkins_request_after_days"),
        Index("ix_outcome_checkins_answered_at", "answered_at"),
        Index("ix_outcome_checkins_due_on", "due_on"),
        # The dispatch pass reads only check-ins not asked yet, and asked ones still waiting for an answer
        # and not nudged: O(due), however many were answered before.
        Index("ix_outcome_checkins_unasked", "due_on", postgresql_where=text("asked_at IS NULL"),
              sqlite_where=text("asked_at IS NULL")),
        Index("ix_outcome_checkins_unanswered", "asked_at",
              postgresql_where=text("asked_at IS NOT NULL AND answered_at IS NULL AND nudged_at IS NULL"),
              sqlite_where=text("asked_at IS NOT NULL AND answered_at IS NULL AND nudged_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    after_days: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date]
    asked_at: Mapped[datetime | None]
    nudged_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(String(16))  # happened | partly | not_yet | not_relevant
    note: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]


class SatisfactionRating(Base):
    """The one 1–5 rating a requester is asked for when their request ends (never for a declined one)."""

    __tablename__ = "satisfaction_ratings"
    __table_args__ = (Index("ix_satisfaction_ratings_answered_at", "answered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), unique=True)
    asked_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
