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

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg


class Connections:
    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """``query`` on an idle connection (a new one when none is idle), waiting while
        ``size`` are busy."""
        async with self._slots:
            if self._closed:
                raise asyncpg.InterfaceError("the queue store's connections are closed")
            conn = self._take()
            if conn is None:
                conn = await self._connect()
            try:
                rows: list[Any] = await conn.fetch(query, *args)
            except asyncpg.PostgresError:
                self._give_back(conn)  # an error reply: the statement rolled back, whole
                raise
            except BaseException:
                conn.terminate()
                raise
            self._give_back(conn)
            return rows

    def _take(self) -> asyncpg.Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():  # the server hung up while it was idle
                return conn
        return None

    def _give_back(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed():
            conn.terminate()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        """Closes the idle connections; a busy one is closed when its call ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(conn.close(timeout=5) for conn in idle), return_exceptions=True)
