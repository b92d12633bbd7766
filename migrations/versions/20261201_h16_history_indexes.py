"""history is free: indexes for `learnbot requests`, the digest and the watermarked retention purge (issue 16)

Revision ID: 20261201_h16
Revises: 20261201_h15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_h16"
down_revision: str | None = "20261201_h15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Only indexes: the code before it runs on this schema as it is (and its purge still works, by scanning).
backward_compatible = True


def _partial(column: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(f"{column} IS NOT NULL"), "sqlite_where": sa.text(f"{column} IS NOT NULL")}


def upgrade() -> None:
    op.create_index("ix_requests_created", "requests", ["created_at", "id"], unique=False)
    op.create_index("ix_requests_status_created", "requests", ["status", "created_at", "id"], unique=False)
    op.create_index("ix_requests_closed", "requests", ["status", "closed_at"], unique=False, **_partial("closed_at"))
    op.create_index("ix_milestones_pending_key_due", "milestones", ["key", "due_on"], unique=False,
                    postgresql_where=sa.text("done_at IS NULL"), sqlite_where=sa.text("done_at IS NULL"))
    op.create_index("ix_jobs_pending_kind_due", "jobs", ["kind", "due_at"], unique=False,
                    postgresql_where=sa.text("finished_at IS NULL"), sqlite_where=sa.text("finished_at IS NULL"))
    op.create_index("ix_reminders_sent_at", "reminders", ["sent_at"], unique=False, **_partial("sent_at"))
    op.create_index("ix_reminders_cancelled_at", "reminders", ["cancelled_at"], unique=False,
                    **_partial("cancelled_at"))
    op.create_index("ix_notices_sent_at", "notices", ["sent_at"], unique=False, **_partial("sent_at"))


def downgrade() -> None:
    op.drop_index("ix_notices_sent_at", table_name="notices")
    op.drop_index("ix_reminders_cancelled_at", table_name="reminders")
    op.drop_index("ix_reminders_sent_at", table_name="reminders")
    op.drop_index("ix_jobs_pending_kind_due", table_name="jobs")
    op.drop_index("ix_milestones_pending_key_due", table_name="milestones")
    op.drop_index("ix_requests_closed", table_name="requests")
    op.drop_index("ix_requests_status_created", table_name="requests")
    op.drop_index("ix_requests_created", table_name="requests")
