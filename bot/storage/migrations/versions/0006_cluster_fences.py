"""cluster_fences and sattva_fence(): fenced queue writes of several processes.

On PostgreSQL also the function every queue statement calls with its lease's name and
token: it takes a share lock on the fence row (so a new holder's raise waits for writes in
flight, and a write after the raise sees it) and raises SQLSTATE SF001 when a newer token
is stored, failing the whole statement.  SQLite runs one process and gets only the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FENCE_FUNCTION = """
CREATE OR REPLACE FUNCTION sattva_fence(fence_name text, fence_token bigint)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  newest bigint;
BEGIN
  IF fence_name IS NULL THEN
    RETURN true;
  END IF;
  SELECT token INTO newest FROM cluster_fences WHERE name = fence_name FOR SHARE;
  IF newest IS NOT NULL AND newest > fence_token THEN
    RAISE EXCEPTION 'FENCED a newer holder of % exists', fence_name USING ERRCODE = 'SF001';
  END IF;
  RETURN true;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "cluster_fences",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FENCE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS sattva_fence(text, bigint)")
    op.drop_table("cluster_fences")
