"""Connections kept idle between calls, at most ``size`` open: the one pool behind both
queue stores' own clients (``redis_wire``, ``pg_pool``; each says why not its library's).

What a failed call means for its connection: an error reply (``keeps``) leaves it in step,
so it goes back; anything else (broken, timed out, cancelled mid-call) drops it at once,
since a reply may still come and must reach nobody.  A connection the other end closed
while it was idle (a restart, a killed session) is skipped, not handed to a call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar


class Pooled(Protocol):
    @property
    def usable(self) -> bool:
        """Not closed by the other end."""

    def drop(self) -> None:
        """Closes at once, whatever is owed."""

    async def shut(self) -> None:
        """Closes an idle connection in good order."""


C = TypeVar("C", bound=Pooled)
T = TypeVar("T")


class IdlePool(Generic[C]):
    """``wait``: how long a call waits for a free connection when ``size`` are busy (None:
    as long as it takes); past it the call fails with ``failure("no free connection")``."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        size: int,
        *,
        keeps: tuple[type[BaseException], ...],
        failure: Callable[[str], Exception],
        wait: float | None = None,
    ) -> None:
        self._connect = connect
        self._keeps = keeps
        self._failure = failure
        self._wait = wait
        self._slots = asyncio.Semaphore(size)
        self._idle: list[C] = []
        self._closed = False

    async def run(self, call: Callable[[C], Awaitable[T]]) -> T:
        """``call`` on an idle connection, or a new one when none is idle."""
        await self._acquire()
        try:
            if self._closed:
                raise self._failure("the connections are closed")
            conn = self._take() or await self._connect()
            try:
                result = await call(conn)
            except self._keeps:
                self._give_back(conn)
                raise
            except BaseException:
                conn.drop()
                raise
            self._give_back(conn)
            return result
        finally:
            self._slots.release()

    async def _acquire(self) -> None:
        slots = self._slots
        if self._wait is None or not slots.locked():
            await slots.acquire()
            return
        try:
            async with asyncio.timeout(self._wait):
                await slots.acquire()
        except TimeoutError:
            raise self._failure("no free connection") from None

    def _take(self) -> C | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
        return None

    def _give_back(self, conn: C) -> None:
        if self._closed or not conn.usable:
            conn.drop()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        """Closes the idle connections now and each busy one when its call ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(conn.shut() for conn in idle), return_exceptions=True)
