"""The dashboard's hourly rollup (stats_hourly) and chats.username (the t.me link of a
public chat).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_hourly",
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("stream_peak", sa.Integer(), nullable=False),
        sa.Column("listener_peak", sa.Integer(), nullable=False),
        sa.Column("stream_seconds", sa.Double(), nullable=False),
        sa.Column("listener_seconds", sa.Double(), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("chats", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "node"),
    )
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("username", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("username")
    op.drop_table("stats_hourly")
