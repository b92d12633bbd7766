"""schema window: the code revisions that may run on the schema (rolling deploys, issue 15)

Revision ID: 20261201_h15
Revises: 20261126_h12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_h15"
down_revision: str | None = "20261126_h12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table that the code before it never reads: that code runs on this schema as it is.
backward_compatible = True


def upgrade() -> None:
    op.create_table(
        "schema_window",
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_schema_window")),
    )


def downgrade() -> None:
    op.drop_table("schema_window")
