"""likely week told: the week a waiting request's requester was last told, and when (issue 17, §16)

Revision ID: 20261201_i17c
Revises: 20261201_i17d
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "20261201_i17c"
down_revision: str | None = "20261201_i17d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Two nullable columns the code before it never reads: that code runs on this schema as it is.
backward_compatible = True


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("turn_week", sa.Date(), nullable=True))
        batch.add_column(sa.Column("turn_told_at", bot.store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("turn_told_at")
        batch.drop_column("turn_week")
