"""workflow steps: the Workflow Builder step "Request L&D support" owed its answer (issue 18, §17)

Revision ID: 20261201_i18c
Revises: 20261201_i17c
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_i18c"
down_revision: str | None = "20261201_i17c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table: the code before it runs on this schema as it is.
backward_compatible = True

PENDING = "finished_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "workflow_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("requester_id", sa.String(length=64), nullable=False),
        sa.Column("support_model", sa.String(length=80), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_steps")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_workflow_steps_execution_id")),
    )
    op.create_index("ix_workflow_steps_pending_due", "workflow_steps", ["due_at"], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index("ix_workflow_steps_pending_due", table_name="workflow_steps")
    op.drop_table("workflow_steps")
