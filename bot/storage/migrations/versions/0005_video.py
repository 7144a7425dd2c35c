"""Per-chat video: /vplay's quality (NULL: the configured player.video_quality), the engine
the chat streams through (NULL: engine.kind) and its RTMP URL and stream key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("video_quality", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("engine", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("rtmp_url", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("rtmp_key", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        for column in ("rtmp_key", "rtmp_url", "engine", "video_quality"):
            batch.drop_column(column)
