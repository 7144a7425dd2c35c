"""channels: channels Sattva streams into and the group that drives each (/channelplay).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=True),
        sa.Column("linked_by", sa.BigInteger(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["chats.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["chats.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("channel_id"),
        sa.UniqueConstraint("group_id"),
    )


def downgrade() -> None:
    op.drop_table("channels")
