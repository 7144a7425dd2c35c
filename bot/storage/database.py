"""The async engine, the session factory and migrations applied at start.

SQLite needs three things PostgreSQL gives for free, set on every new connection:
foreign keys (off by default in SQLite), WAL for file databases (readers do not block the
writer, and a commit survives a crash once its WAL frame is synced), and a busy timeout (a
second writer waits instead of failing at once).  pysqlite's own transaction handling is
switched off so that ``BEGIN`` is emitted by us: at the start of the transaction, not lazily
before the first write, which would let two transactions read the same queue state and then
both write.  Connections opened with the execution option ``sqlite_immediate=True`` begin
with ``BEGIN IMMEDIATE`` and so take SQLite's write lock up front.

The writer policy of everything that writes through SQLAlchemy lives here (repositories,
assistant assignments, the admin panel): on SQLite a transaction that will write begins
IMMEDIATE (``immediate``, ``writing_sessions``) and, inside this process, waits for its turn
on the database's one writer lock (``writer_turn``); PostgreSQL needs neither.
``insert_for`` is the dialect's INSERT (both have ``ON CONFLICT``, in different modules).
The database queue store keeps its own connections (``sqlite_queue.py``, ``pg_queue.py``)
and states its policy there.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.domain.queue import StorageUnavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_IMMEDIATE = "sqlite_immediate"
CONNECT_TIMEOUT_SECONDS = 10
#: the advisory lock (PostgreSQL) one migration run holds: "sattva" in ASCII
MIGRATION_LOCK = 0x736174747661


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


#: One writer at a time per SQLite database in this process.  SQLite has a single write
#: lock, and its busy handler is not fair: under load a writer could keep losing for longer
#: than the busy timeout and fail with "database is locked".  Queued here, they go in turn.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


def writer_turn(engine: AsyncEngine) -> contextlib.AbstractAsyncContextManager[object]:
    """Entered before a writing transaction begins: on SQLite, this database's in-process
    writer lock; on PostgreSQL nothing (row locks do the work)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    lock = _SQLITE_WRITERS.get(engine.sync_engine)
    if lock is None:
        lock = _SQLITE_WRITERS[engine.sync_engine] = asyncio.Lock()
    return lock


def immediate(engine: AsyncEngine) -> AsyncEngine:
    """The engine whose transactions take SQLite's write lock at BEGIN: a transaction that
    reads and then writes cannot wait for the lock later (SQLite answers "database is
    locked" at once when another writer committed since its read)."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def writing_sessions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions whose transactions begin IMMEDIATE (for a writer that reads first, such as
    sqladmin's edit forms); the sessionmaker itself when it has no engine bound."""
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        return sessionmaker
    return async_sessionmaker(immediate(bind), expire_on_commit=False)


def insert_for(dialect: str) -> Callable[[Table | type[Any]], Any]:
    """The dialect's INSERT, the one with ``on_conflict_do_*`` (SQLite or PostgreSQL)."""
    return sqlite_insert if dialect == "sqlite" else pg_insert


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
    """Applies the Alembic migrations up to ``revision`` on the engine's database.

    On PostgreSQL the whole upgrade holds an advisory lock: several nodes of a cluster start
    at once on one database, and two concurrent upgrades would both create the first
    tables (one fails).  The second waits, then finds nothing left to do."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
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
