"""The async engine, the session factory and migrations applied at start.

SQLite needs three things PostgreSQL gives for free, set on every new connection:
foreign keys (off by default in SQLite), WAL for file databases (readers do not block the
writer, and a commit survives a crash once its WAL frame is synced), and a busy timeout (a
second writer waits instead of failing at once).  pysqlite's own transaction handling is
switched off so that ``BEGIN`` is emitted by us: at the start of the transaction, not lazily
before the first write, which would let two transactions read the same queue state and then
both write.  Connections opened with the execution option ``sqlite_immediate=True`` begin
with ``BEGIN IMMEDIATE`` and so take SQLite's write lock up front (the queue store uses it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.storage.queue import StorageUnavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_IMMEDIATE = "sqlite_immediate"
CONNECT_TIMEOUT_SECONDS = 10


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URLs.

    ``hide_parameters``: a statement's error (a unique key violated, say) carries its bound
    values in its text, and that text reaches logs and pages; a value can be a password hash.
    """
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        # asyncpg waits 60 s for an unreachable host by default; fail sooner and say so
        kwargs.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT_SECONDS})
        return create_async_engine(url, **kwargs)
    engine = create_async_engine(url, **kwargs)
    file_db = parsed.database not in (None, "", ":memory:") and "mode=memory" not in str(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module doc)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if file_db:
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed transaction survives power loss too, not only a crash.
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_unavailable(exc: BaseException) -> bool:
    """The database did not answer (down, unreachable, locked too long), as opposed to a
    query the database refused."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@contextlib.contextmanager
def unavailable_as_storage_error() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise StorageUnavailable(f"database unavailable: {exc.__class__.__name__}") from exc
        raise


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: repos hand ORM rows back after the session is gone.
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Applies the Alembic migrations up to ``revision`` on the engine's database."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _pending(connection: Connection) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    current = set(MigrationContext.configure(connection).get_current_heads())
    applied: set[str] = set()
    for head in current:
        applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
    return [
        rev.revision
        for rev in reversed(list(script.walk_revisions()))
        if rev.revision not in applied
    ]


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied, oldest first (``check`` reports them; start applies them)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_pending)
