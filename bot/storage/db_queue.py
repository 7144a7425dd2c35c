"""The queue store on the relational database (SQLite or PostgreSQL).

Why one transaction per method is enough: a track lives in exactly one row, either in
``queue_entries`` (pending) or in ``queue_now_playing`` (the slot), and every move between
the two is a delete and an insert inside one transaction.  A crash before the commit leaves
the old state, after it the new one; there is no state in between to recover from.

The work is done by ``sqlite_queue`` (one transaction per call, one hop to its own
connection thread) or ``pg_queue`` (one statement per call on asyncpg); see each for how
concurrent callers on one chat are put in order.  Both bypass SQLAlchemy's engine, which
costs a thread hop or a round trip per DBAPI call: the engine passed in only tells where
the database is (the application's repositories keep using it).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.models import LoopMode, NowPlaying, Track
from bot.domain.queue import (
    AdvanceResult,
    Checkpoint,
    EnqueuedBatch,
    QueueSnapshot,
    StorageUnavailable,
)
from bot.metrics import queue_operation
from bot.storage.pg_queue import PostgresQueueStore
from bot.storage.queue_rows import Fence
from bot.storage.sqlite_queue import SqliteQueueStore

T = TypeVar("T")

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sqlite3.OperationalError,  # cannot open, locked past the busy timeout, disk I/O
    asyncpg.InterfaceError,  # connection closed, pool closing
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)


def _backend(engine: AsyncEngine, fence: Fence | None) -> SqliteQueueStore | PostgresQueueStore:
    url = engine.url
    if engine.dialect.name == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or "mode=memory" in str(url):
            raise ValueError("the database queue store needs a SQLite file, not memory")
        if fence is not None:
            raise ValueError("fenced queue writes need PostgreSQL (one process per SQLite file)")
        return SqliteQueueStore(path)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresQueueStore(dsn, fence=fence)


class DatabaseQueueStore:
    """``QueueStore`` on the application's database: counts each operation once and turns
    "the database did not answer" into ``StorageUnavailable``."""

    def __init__(self, engine: AsyncEngine, *, fence: Fence | None = None) -> None:
        self._impl = _backend(engine, fence)

    async def _op(self, op: str, call: Awaitable[T]) -> T:
        # a try, not a second context manager: this wraps every queue operation
        with queue_operation(op, StorageUnavailable):
            try:
                return await call
            except UNAVAILABLE as exc:
                why = f"database unavailable: {exc.__class__.__name__}"
                raise StorageUnavailable(why) from exc

    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        return await self._op("enqueue", self._impl.enqueue(chat_id, track, limit=limit))

    async def enqueue_many(
        self, chat_id: int, tracks: Sequence[Track], *, limit: int
    ) -> EnqueuedBatch:
        call = self._impl.enqueue_many(chat_id, tracks, limit=limit)
        return await self._op("enqueue_many", call)

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        return await self._op("start_next", self._impl.start_next(chat_id, now=now))

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        call = self._impl.advance(chat_id, expected_track_id, now=now, natural=natural)
        return await self._op("advance", call)

    async def now_playing(self, chat_id: int) -> NowPlaying | None:
        return await self._op("now_playing", self._impl.now_playing(chat_id))

    async def pending(self, chat_id: int) -> list[Track]:
        return await self._op("pending", self._impl.pending(chat_id))

    async def pending_and_loop(self, chat_id: int) -> tuple[list[Track], LoopMode]:
        return await self._op("pending_and_loop", self._impl.pending_and_loop(chat_id))

    async def length(self, chat_id: int) -> int:
        return await self._op("length", self._impl.length(chat_id))

    async def remove(self, chat_id: int, position: int) -> Track:
        return await self._op("remove", self._impl.remove(chat_id, position))

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        return await self._op("remove_track", self._impl.remove_track(chat_id, track_id))

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        return await self._op("move", self._impl.move(chat_id, src, dst))

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None:
        await self._op("shuffle", self._impl.shuffle(chat_id, rng))

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        call = self._impl.clear(chat_id, include_current=include_current)
        return await self._op("clear", call)

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        await self._op("set_loop", self._impl.set_loop(chat_id, mode))

    async def get_loop(self, chat_id: int) -> LoopMode:
        return await self._op("get_loop", self._impl.get_loop(chat_id))

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        call = self._impl.checkpoint(chat_id, track_id, position=position, paused=paused, now=now)
        return await self._op("checkpoint", call)

    async def checkpoint_many(self, items: Sequence[Checkpoint]) -> int:
        return await self._op("checkpoint_many", self._impl.checkpoint_many(items))

    async def chats_with_state(self) -> list[int]:
        return await self._op("chats_with_state", self._impl.chats_with_state())

    async def load_many(self, chat_ids: Sequence[int]) -> dict[int, QueueSnapshot]:
        return await self._op("load_many", self._impl.load_many(chat_ids))

    async def raise_fence(self, name: str, token: int) -> None:
        """A lease was taken (cluster mode): older tokens of ``name`` are refused from now
        on.  Only PostgreSQL fences; cluster mode refuses SQLite."""
        if not isinstance(self._impl, PostgresQueueStore):
            raise TypeError("fences need the PostgreSQL queue store")
        await self._op("raise_fence", self._impl.raise_fence(name, token))

    async def ping(self) -> None:
        await self._op("ping", self._impl.ping())

    async def close(self) -> None:
        """Closes the store's own connections (the engine stays its owner's)."""
        await self._impl.close()
