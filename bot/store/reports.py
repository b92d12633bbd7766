"""The report's stored work (issue 17): one row per report owed to a channel or a person, and the indexes
that keep the report's queries to the rows of its period."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, DecisionEvent, Milestone, Request, RequestNote, utcnow


class ReportPost(Base):
    """A report learnbot owes: the monthly post to LEARNBOT_REPORT_CHANNEL (its key names the channel and the
    period, so two workers or a restart post it once) or `/learn report`'s DM to an L&D admin.

    Posting is two steps: the Block Kit summary (`slack_ts` once posted, never posted again) and the files
    (the chart and the CSV, `files_at` once shared)."""

    __tablename__ = "report_posts"
    __table_args__ = (
        Index("ix_report_posts_pending_due", "due_at", postgresql_where=text("posted_at IS NULL AND failed_at IS NULL"),
              sqlite_where=text("posted_at IS NULL AND failed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "channel:<C…>@<from>..<to>" for the monthly post; "dm:<U…>@<from>..<to>:<uuid>" for /learn report.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient: Mapped[str] = mapped_column(String(80))  # a channel id, or a Slack user id (their DM)
    period_start: Mapped[date]
    period_end: Mapped[date]
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    files_at: Mapped[datetime | None]
    posted_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The report reads only the rows of its period (and the one before): each section is a range of one of these.
Index("ix_decision_events_created_at", DecisionEvent.created_at)
Index("ix_requests_anchor_date", Request.anchor_date)
Index("ix_milestones_due_on", Milestone.due_on)
Index("ix_request_notes_kind_created", RequestNote.kind, RequestNote.created_at)
