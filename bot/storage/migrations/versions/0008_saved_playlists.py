"""saved_playlists and saved_playlist_tracks: users' saved playlists (/playlist).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_playlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "key"),
    )
    op.create_index(op.f("ix_saved_playlists_user_id"), "saved_playlists", ["user_id"])
    op.create_table(
        "saved_playlist_tracks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("is_live", sa.Boolean(), nullable=False),
        sa.Column("video", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(["playlist_id"], ["saved_playlists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_saved_playlist_tracks_playlist_id"), "saved_playlist_tracks", ["playlist_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_playlist_tracks_playlist_id"), table_name="saved_playlist_tracks")
    op.drop_table("saved_playlist_tracks")
    op.drop_index(op.f("ix_saved_playlists_user_id"), table_name="saved_playlists")
    op.drop_table("saved_playlists")
