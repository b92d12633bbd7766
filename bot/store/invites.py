"""Calendar invites sent for live sessions (issue 18, §17): one row per version of a request's invite and host.

A version is a SEQUENCE number of the request's UID; its rows are written before anything is uploaded, and a
row's `sent_at` is set as soon as its file is shared, so a retried job never uploads it twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class CalendarInvite(Base):
    __tablename__ = "calendar_invites"
    __table_args__ = (
        UniqueConstraint("request_id", "sequence", "recipient_id", name="uq_calendar_invites_version_recipient"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))  # REQUEST or CANCEL
    # What the version says (bot/domain/invites.fingerprint): a new version only when it changes.
    fingerprint: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[str] = mapped_column(String(32))
    # Also the file's DTSTAMP: a retry sends the same bytes.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    file_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)  # Slack refused it for good (this host only)
