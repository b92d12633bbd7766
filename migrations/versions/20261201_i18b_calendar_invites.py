"""calendar invites: one row per version (SEQUENCE) of a live session's invite and host, sent once (issue 18)

Revision ID: 20261201_i18b
Revises: 20261201_i18c
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_i18b"
down_revision: str | None = "20261201_i18c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new table: the code before it runs on this schema as it is.
backward_compatible = True


def upgrade() -> None:
    op.create_table(
        "calendar_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name=op.f("fk_calendar_invites_request_id_requests"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_invites")),
        sa.UniqueConstraint("request_id", "sequence", "recipient_id", name="uq_calendar_invites_version_recipient"),
    )
    op.create_index(op.f("ix_calendar_invites_request_id"), "calendar_invites", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_invites_request_id"), table_name="calendar_invites")
    op.drop_table("calendar_invites")
