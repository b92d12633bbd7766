"""directory passes: the daily users.list pass that refreshes every person's zone in bulk (issue 16)

Revision ID: 20261201_h16b
Revises: 20261201_h16
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "20261201_h16b"
down_revision: str | None = "20261201_h16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table that the code before it never reads: that code runs on this schema as it is.
backward_compatible = True


def upgrade() -> None:
    op.create_table(
        "directory_passes",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("started_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", bot.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_directory_passes")),
    )


def downgrade() -> None:
    op.drop_table("directory_passes")
