"""Workflow Builder steps learnbot owes an answer (issue 18, §17): one row per function execution.

A `function_executed` event is stored here first (a redelivery finds its row by the execution id), then
the one runner works it through its phases until Slack is told how the step ended, once:
`check` (the model, the requester, the answers), `form` (the requester was sent the form; waiting for
it), `filing` (the request is stored; completed once its issue exists), `fail` (completeError owed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow
from bot.store.queues import Queue, due_again

CHECK, FORM, FILING, FAIL = "check", "form", "filing", "fail"
PENDING = "finished_at IS NULL AND failed_at IS NULL"


class WorkflowStep(Base):
    __tablename__ = "workflow_steps"
    __table_args__ = (
        Index("ix_workflow_steps_pending_due", "due_at", postgresql_where=text(PENDING), sqlite_where=text(PENDING)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(64), unique=True)  # the event's function_execution_id
    # The event's bot_access_token (xwfp-…), which completeSuccess/completeError take, as Bolt's complete()
    # does. A secret: never logged, never shown, and cleared once the step is answered.
    token: Mapped[str | None] = mapped_column(Text)
    requester_id: Mapped[str] = mapped_column(String(64))
    support_model: Mapped[str] = mapped_column(String(80))
    inputs: Mapped[dict[str, Any]]
    phase: Mapped[str] = mapped_column(String(16), default=CHECK)
    error: Mapped[str | None] = mapped_column(Text)  # what completeError says (phase fail)
    request_id: Mapped[int | None] = mapped_column(Integer)  # the request it became, once stored
    outcome: Mapped[str | None] = mapped_column(String(16))  # "success" or "error", once Slack was told
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _answered(row: WorkflowStep, now: datetime) -> None:
    row.finished_at, row.claimed_until, row.last_error, row.token = now, None, None, None


def _failed(row: WorkflowStep, now: datetime, error: str) -> None:
    row.failed_at, row.claimed_until, row.last_error, row.token = now, None, error[:2000], None


WORKFLOW_STEPS = Queue(
    name="workflow_steps", model=WorkflowStep,
    pending=lambda: (WorkflowStep.finished_at.is_(None), WorkflowStep.failed_at.is_(None)),
    due=lambda now: (WorkflowStep.due_at <= now,),
    order=lambda: (WorkflowStep.due_at, WorkflowStep.id),
    mark_done=_answered, mark_failed=_failed, put_off=due_again,
    kind_of=lambda row: "workflow_step",
)
