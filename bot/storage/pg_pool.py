"""The PostgreSQL queue store's connections: a list of idle asyncpg connections and a
bound on how many are open.

Why not ``asyncpg.Pool``: every ``Pool.fetch`` acquires through a holder queue, releases
through ``asyncio.shield`` (a task per call) and runs the connection's reset, which cost
more CPU than the queue statement itself (~70 us a call, benchmarks/README.md, queue_pg).
The queue statements leave no session state behind (one statement, autocommit), so a
connection goes back as it is.  One that failed other than by an error reply (broken,
timed out, or its call cancelled mid-statement) is terminated, never reused: what it was
doing is unknown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bot.storage.idle_pool import IdlePool


class PgConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """An asyncpg connection as ``IdlePool`` handles it (connect with
    ``connection_class=PgConnection``)."""

    @property
    def usable(self) -> bool:
        return not self.is_closed()

    def drop(self) -> None:
        self.terminate()

    async def shut(self) -> None:
        await self.close(timeout=5)


class Connections:
    def __init__(self, connect: Callable[[], Awaitable[PgConnection]], size: int) -> None:
        # an error reply: the statement rolled back, whole, and the connection is in step
        self._pool = IdlePool(
            connect, size, keeps=(asyncpg.PostgresError,), failure=asyncpg.InterfaceError
        )

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """``query`` on an idle connection (a new one when none is idle), waiting while
        ``size`` are busy."""
        rows: list[Any] = await self._pool.run(lambda conn: conn.fetch(query, *args))
        return rows

    async def close(self) -> None:
        """Closes the idle connections; a busy one is closed when its call ends."""
        await self._pool.close()
