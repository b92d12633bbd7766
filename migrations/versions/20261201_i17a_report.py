"""the L&D leader's report: report_posts (the monthly post and /learn report's DM, posted once) and the
indexes that keep the report to the rows of its period (issue 17)

Revision ID: 20261201_i17a
Revises: 20261201_h16b
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_i17a"
down_revision: str | None = "20261201_h16b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table and indexes: the code before it runs on this schema as it is.
backward_compatible = True

PENDING = "posted_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "report_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=80), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("files_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_posts")),
        sa.UniqueConstraint("key", name=op.f("uq_report_posts_key")),
    )
    op.create_index("ix_report_posts_pending_due", "report_posts", ["due_at"], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_index("ix_decision_events_created_at", "decision_events", ["created_at"], unique=False)
    op.create_index("ix_requests_anchor_date", "requests", ["anchor_date"], unique=False)
    op.create_index("ix_milestones_due_on", "milestones", ["due_on"], unique=False)
    op.create_index("ix_request_notes_kind_created", "request_notes", ["kind", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_request_notes_kind_created", table_name="request_notes")
    op.drop_index("ix_milestones_due_on", table_name="milestones")
    op.drop_index("ix_requests_anchor_date", table_name="requests")
    op.drop_index("ix_decision_events_created_at", table_name="decision_events")
    op.drop_index("ix_report_posts_pending_due", table_name="report_posts")
    op.drop_table("report_posts")
