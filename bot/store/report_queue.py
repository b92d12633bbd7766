"""The report's owed posts as a queue of the one runner (bot.store.queues's Queue over report_posts)."""

from __future__ import annotations

from datetime import datetime

from bot.store.queues import Queue, due_again
from bot.store.reports import ReportPost


def _posted(row: ReportPost, now: datetime) -> None:
    row.posted_at, row.claimed_until, row.last_error = now, None, None


def _failed(row: ReportPost, now: datetime, error: str) -> None:
    row.failed_at, row.claimed_until, row.last_error = now, None, error[:2000]


REPORT_POSTS = Queue(
    name="report_posts", model=ReportPost,
    pending=lambda: (ReportPost.posted_at.is_(None), ReportPost.failed_at.is_(None)),
    due=lambda now: (ReportPost.due_at <= now,),
    order=lambda: (ReportPost.due_at, ReportPost.id),
    mark_done=_posted, mark_failed=_failed, put_off=due_again,
    kind_of=lambda row: "report",
)
