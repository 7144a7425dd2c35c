"""SQLite: the now-playing slot keyed by its rowid (``chat_id INTEGER PRIMARY KEY``).

Declared BIGINT, the slot's primary key was a separate index beside the table, so every
start_next and advance wrote (and synced) two pages of it where one will do: in SQLite an
``INTEGER`` primary key is the rowid itself, 64 bits, negative ids included.  Worth ~0.01 of
queue_db's ratio (benchmarks/README.md).  PostgreSQL keeps BIGINT: nothing to do there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # recreate: SQLite cannot change a column's type in place; the rows are copied over
    with op.batch_alter_table("queue_now_playing", recreate="always") as batch:
        batch.alter_column("chat_id", type_=new, existing_type=old, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())


def downgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())
