"""The PostgreSQL queue store's connections, on the tests' PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.storage.pg_pool import Connections, PgConnection

pytestmark = pytest.mark.postgres


@pytest.fixture
def dsn(postgres_url: str) -> str:
    return make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[Connections]:
    opened: list[PgConnection] = []

    async def connect() -> PgConnection:
        conn: PgConnection = await asyncpg.connect(dsn, connection_class=PgConnection)
        opened.append(conn)
        return conn

    pool = Connections(connect, 3)
    pool.opened = opened  # type: ignore[attr-defined]
    yield pool
    await pool.close()
    for conn in opened:
        conn.terminate()


async def backends(dsn: str) -> int:
    """Other sessions on this database (the looking one not counted)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def test_calls_reuse_connections_up_to_the_bound(pool: Connections, dsn: str) -> None:
    assert await pool.fetch("SELECT 1") == [(1,)]
    assert await backends(dsn) == 1
    slow = [pool.fetch("SELECT pg_sleep(0.2), $1::int", i) for i in range(6)]
    assert [row[0][1] for row in await asyncio.gather(*slow)] == list(range(6))
    assert await backends(dsn) == 3  # six at once, three connections


async def test_an_error_reply_keeps_the_connection(pool: Connections, dsn: str) -> None:
    await pool.fetch("CREATE TABLE t (id int PRIMARY KEY)")
    await pool.fetch("INSERT INTO t VALUES (1)")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.fetch("INSERT INTO t VALUES (1)")
    assert await pool.fetch("SELECT count(*) FROM t") == [(1,)]
    assert len(pool.opened) == 1  # type: ignore[attr-defined]


async def test_a_cancelled_call_terminates_its_connection(pool: Connections, dsn: str) -> None:
    call = asyncio.create_task(pool.fetch("SELECT pg_sleep(5)"))
    while await backends(dsn) < 1:  # noqa: ASYNC110 (the server alone knows it arrived)
        await asyncio.sleep(0.02)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await pool.fetch("SELECT 2") == [(2,)]  # on a new connection
    assert len(pool.opened) == 2  # type: ignore[attr-defined]
    assert pool.opened[0].is_closed()  # type: ignore[attr-defined]


async def test_a_connection_the_server_ended_while_idle_is_not_used(
    pool: Connections, dsn: str
) -> None:
    await pool.fetch("SELECT 1")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    for _ in range(100):  # the loop sees the hang-up
        if pool.opened[0].is_closed():  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    assert await pool.fetch("SELECT 3") == [(3,)]


async def test_closed_connections_refuse_calls(pool: Connections) -> None:
    await pool.fetch("SELECT 1")
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        await pool.fetch("SELECT 1")
