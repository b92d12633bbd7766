"""similar requests: earlier requests that read like a new one, and the GitLab links asked for (issue 17, point 5)

Revision ID: 20261201_i17d
Revises: 20261201_i17b
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "20261201_i17d"
down_revision: str | None = "20261201_i17b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table that the code before it never reads: that code runs on this schema as it is.
backward_compatible = True


def upgrade() -> None:
    op.create_table(
        "similar_requests",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("similar_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("found_at", bot.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("linked_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_similar_requests_request_id_requests"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["similar_id"], ["requests.id"], name=op.f("fk_similar_requests_similar_id_requests"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id", "similar_id", name=op.f("pk_similar_requests")),
    )
    op.create_index(op.f("ix_similar_requests_found_at"), "similar_requests", ["found_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_similar_requests_found_at"), table_name="similar_requests")
    op.drop_table("similar_requests")
