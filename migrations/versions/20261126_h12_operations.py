"""operations: the worker's heartbeat, and indexes for the /metrics gauges and the retention purge

Revision ID: 20261126_h12
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "20261126_h12"
down_revision: str | None = "20261126_h11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", bot.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_heartbeats")),
    )
    op.create_index("ix_requests_status", "requests", ["status"], unique=False)
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"], unique=False,
                    postgresql_where=sa.text("finished_at IS NOT NULL"), sqlite_where=sa.text("finished_at IS NOT NULL"))
    op.create_index("ix_webhook_deliveries_processed_at", "webhook_deliveries", ["processed_at"], unique=False,
                    postgresql_where=sa.text("processed_at IS NOT NULL"),
                    sqlite_where=sa.text("processed_at IS NOT NULL"))
    op.create_index("ix_notices_failed_at", "notices", ["failed_at"], unique=False,
                    postgresql_where=sa.text("failed_at IS NOT NULL"), sqlite_where=sa.text("failed_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_notices_failed_at", table_name="notices")
    op.drop_index("ix_webhook_deliveries_processed_at", table_name="webhook_deliveries")
    op.drop_index("ix_jobs_finished_at", table_name="jobs")
    op.drop_index("ix_requests_status", table_name="requests")
    op.drop_table("heartbeats")
