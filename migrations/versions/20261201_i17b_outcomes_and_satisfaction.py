"""outcome check-ins and satisfaction ratings: what requesters say after launch (issue 17)

Revision ID: 20261201_i17b
Revises: 20261201_i17a
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "20261201_i17b"
down_revision: str | None = "20261201_i17a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# New tables that the code before it never reads: that code runs on this schema as it is.
backward_compatible = True

UNASKED = "asked_at IS NULL"
UNANSWERED = "asked_at IS NOT NULL AND answered_at IS NULL AND nudged_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "outcome_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("asked_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("nudged_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("answered_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_outcome_checkins_request_id_requests"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_checkins")),
        sa.UniqueConstraint("request_id", "after_days", name="uq_outcome_checkins_request_after_days"),
    )
    with op.batch_alter_table("outcome_checkins", schema=None) as batch_op:
        batch_op.create_index("ix_outcome_checkins_answered_at", ["answered_at"], unique=False)
        batch_op.create_index("ix_outcome_checkins_due_on", ["due_on"], unique=False)
        batch_op.create_index("ix_outcome_checkins_unasked", ["due_on"], unique=False,
                              postgresql_where=sa.text(UNASKED), sqlite_where=sa.text(UNASKED))
        batch_op.create_index("ix_outcome_checkins_unanswered", ["asked_at"], unique=False,
                              postgresql_where=sa.text(UNANSWERED), sqlite_where=sa.text(UNANSWERED))
    op.create_table(
        "satisfaction_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("asked_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"],
                                name=op.f("fk_satisfaction_ratings_request_id_requests"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_ratings")),
        sa.UniqueConstraint("request_id", name=op.f("uq_satisfaction_ratings_request_id")),
    )
    with op.batch_alter_table("satisfaction_ratings", schema=None) as batch_op:
        batch_op.create_index("ix_satisfaction_ratings_answered_at", ["answered_at"], unique=False)


def downgrade() -> None:
    op.drop_table("satisfaction_ratings")
    op.drop_table("outcome_checkins")
