"""The queue store on the relational database (SQLite or PostgreSQL).

Why one transaction per method is enough: a track lives in exactly one row, either in
``queue_entries`` (pending) or in ``queue_now_playing`` (the slot), and every move between
the two is a delete and an insert inside one transaction.  A crash before the commit leaves
the old state, after it the new one; there is no state in between to recover from.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, select, union, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.models import LoopMode, NowPlaying, Track
from bot.domain.queue import AdvanceResult, QueueFull, QueuePositionError
from bot.metrics import QUEUE_OPERATIONS
from bot.storage.database import (
    immediate,
    insert_for,
    unavailable_as_storage_error,
    writer_turn,
)
from bot.storage.orm import QueueChatState, QueueEntry, QueueNowPlaying

CHATS = cast(Table, QueueChatState.__table__)
ENTRIES = cast(Table, QueueEntry.__table__)
SLOT = cast(Table, QueueNowPlaying.__table__)


def _now_playing(row: Row[Any]) -> NowPlaying:
    return NowPlaying(
        track=Track.from_json(row.track_json),
        started_at=row.started_at,
        position=row.position,
        updated_at=row.updated_at,
        paused=row.paused,
    )


class DatabaseQueueStore:
    """``QueueStore`` over SQLAlchemy Core; the engine is the caller's (shared with repos).

    Concurrency: every mutating method first locks the chat's ``queue_chats`` row, so two
    tasks (or two processes) changing one chat's queue run one after the other and the
    second sees the first one's result: a duplicate ``advance`` finds the slot already moved
    on, and ``enqueue`` positions follow commit order.

    - PostgreSQL: ``SELECT ... FOR UPDATE`` on that row (created on first use with
      ``INSERT ... ON CONFLICT DO NOTHING``).  Other chats are not blocked.
    - SQLite has no row locks and ignores ``FOR UPDATE``.  Transactions begin with
      ``BEGIN IMMEDIATE`` (see ``database.create_engine``), which takes the database's
      write lock before the first read, so no two writers can read the same state; other
      processes wait on the busy timeout.  Inside this process an ``asyncio.Lock`` queues
      the store's transactions first, because SQLite's busy handler polls with sleeps and
      dozens of tasks contending through it would be slow and could hit the timeout.  WAL
      keeps the rest of the application's readers unblocked meanwhile.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._base = engine
        self._engine = immediate(engine)

    @contextlib.asynccontextmanager
    async def _transaction(self, op: str) -> AsyncIterator[AsyncConnection]:
        """One store operation: counted, serialised (SQLite), one transaction, errors mapped."""
        QUEUE_OPERATIONS.labels(op=op).inc()
        with unavailable_as_storage_error():
            async with writer_turn(self._base), self._engine.begin() as conn:
                yield conn

    async def _lock_chat(self, conn: AsyncConnection, chat_id: int) -> Any:
        """Locks (creating if needed) the chat's state row; returns loop_mode and next_seq."""
        query = (
            select(CHATS.c.loop_mode, CHATS.c.next_seq)
            .where(CHATS.c.chat_id == chat_id)
            .with_for_update()
        )
        row = (await conn.execute(query)).one_or_none()
        if row is None:
            upsert = insert_for(self._base.dialect.name)(CHATS)
            await conn.execute(
                upsert.values(
                    chat_id=chat_id, loop_mode=LoopMode.OFF.value, next_seq=0
                ).on_conflict_do_nothing(index_elements=["chat_id"])
            )
            row = (await conn.execute(query)).one()
        return row

    @staticmethod
    async def _slot(conn: AsyncConnection, chat_id: int) -> Row[Any] | None:
        return (await conn.execute(select(SLOT).where(SLOT.c.chat_id == chat_id))).one_or_none()

    @staticmethod
    async def _count(conn: AsyncConnection, chat_id: int) -> int:
        query = select(func.count()).select_from(ENTRIES).where(ENTRIES.c.chat_id == chat_id)
        return int((await conn.execute(query)).scalar_one())

    @staticmethod
    async def _entries(conn: AsyncConnection, chat_id: int) -> Sequence[Any]:
        query = (
            select(ENTRIES.c.id, ENTRIES.c.track_json)
            .where(ENTRIES.c.chat_id == chat_id)
            .order_by(ENTRIES.c.seq)
        )
        return (await conn.execute(query)).all()

    @staticmethod
    async def _append(conn: AsyncConnection, chat_id: int, track: Track, seq: int) -> None:
        await conn.execute(
            insert(ENTRIES).values(
                chat_id=chat_id, seq=seq, track_id=track.id, track_json=track.to_json()
            )
        )
        await conn.execute(update(CHATS).where(CHATS.c.chat_id == chat_id).values(next_seq=seq + 1))

    @staticmethod
    async def _fill_slot(
        conn: AsyncConnection, chat_id: int, track: Track, now: float
    ) -> NowPlaying:
        await conn.execute(
            insert(SLOT).values(
                chat_id=chat_id,
                track_id=track.id,
                track_json=track.to_json(),
                started_at=now,
                position=0.0,
                updated_at=now,
                paused=False,
            )
        )
        return NowPlaying(track=track, started_at=now, position=0.0, updated_at=now)

    async def _pop_into_slot(
        self, conn: AsyncConnection, chat_id: int, now: float
    ) -> NowPlaying | None:
        query = (
            select(ENTRIES.c.id, ENTRIES.c.track_json)
            .where(ENTRIES.c.chat_id == chat_id)
            .order_by(ENTRIES.c.seq)
            .limit(1)
        )
        head = (await conn.execute(query)).one_or_none()
        if head is None:
            return None
        await conn.execute(delete(ENTRIES).where(ENTRIES.c.id == head.id))
        return await self._fill_slot(conn, chat_id, Track.from_json(head.track_json), now)

    async def _renumber(
        self, conn: AsyncConnection, chat_id: int, ids: Sequence[int], next_seq: int
    ) -> None:
        """Gives ``ids`` fresh, increasing keys above every existing one, in this order."""
        if not ids:
            return
        await conn.execute(
            update(ENTRIES)
            .where(ENTRIES.c.id == bindparam("entry_id"))
            .values(seq=bindparam("new_seq")),
            [{"entry_id": entry_id, "new_seq": next_seq + i} for i, entry_id in enumerate(ids)],
        )
        await conn.execute(
            update(CHATS).where(CHATS.c.chat_id == chat_id).values(next_seq=next_seq + len(ids))
        )

    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        async with self._transaction("enqueue") as conn:
            state = await self._lock_chat(conn, chat_id)
            count = await self._count(conn, chat_id)
            if count >= limit:
                raise QueueFull(limit)
            await self._append(conn, chat_id, track, state.next_seq)
            return count + 1

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        async with self._transaction("start_next") as conn:
            await self._lock_chat(conn, chat_id)
            slot = await self._slot(conn, chat_id)
            if slot is not None:
                return _now_playing(slot)
            return await self._pop_into_slot(conn, chat_id, now)

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        async with self._transaction("advance") as conn:
            state = await self._lock_chat(conn, chat_id)
            slot = await self._slot(conn, chat_id)
            if slot is None or slot.track_id != expected_track_id:
                occupant = None if slot is None else _now_playing(slot)
                return AdvanceResult(advanced=False, finished=None, current=occupant)
            finished = Track.from_json(slot.track_json)
            await conn.execute(delete(SLOT).where(SLOT.c.chat_id == chat_id))
            mode = LoopMode(state.loop_mode)
            current: NowPlaying | None
            if mode is LoopMode.TRACK and natural:
                current = await self._fill_slot(conn, chat_id, finished.with_new_id(), now)
            else:
                if mode is LoopMode.QUEUE:
                    await self._append(conn, chat_id, finished.with_new_id(), state.next_seq)
                current = await self._pop_into_slot(conn, chat_id, now)
            return AdvanceResult(advanced=True, finished=finished, current=current)

    async def now_playing(self, chat_id: int) -> NowPlaying | None:
        async with self._transaction("now_playing") as conn:
            slot = await self._slot(conn, chat_id)
            return None if slot is None else _now_playing(slot)

    async def pending(self, chat_id: int) -> list[Track]:
        async with self._transaction("pending") as conn:
            return [Track.from_json(row.track_json) for row in await self._entries(conn, chat_id)]

    async def pending_and_loop(self, chat_id: int) -> tuple[list[Track], LoopMode]:
        async with self._transaction("pending_and_loop") as conn:
            entries = await self._entries(conn, chat_id)
            query = select(CHATS.c.loop_mode).where(CHATS.c.chat_id == chat_id)
            mode = (await conn.execute(query)).scalar_one_or_none()
        tracks = [Track.from_json(row.track_json) for row in entries]
        return tracks, LoopMode.OFF if mode is None else LoopMode(mode)

    async def length(self, chat_id: int) -> int:
        async with self._transaction("length") as conn:
            return await self._count(conn, chat_id)

    async def remove(self, chat_id: int, position: int) -> Track:
        async with self._transaction("remove") as conn:
            await self._lock_chat(conn, chat_id)
            entries = await self._entries(conn, chat_id)
            if not 1 <= position <= len(entries):
                raise QueuePositionError(position, len(entries))
            entry = entries[position - 1]
            await conn.execute(delete(ENTRIES).where(ENTRIES.c.id == entry.id))
            return Track.from_json(entry.track_json)

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        async with self._transaction("move") as conn:
            state = await self._lock_chat(conn, chat_id)
            entries = list(await self._entries(conn, chat_id))
            for position in (src, dst):
                if not 1 <= position <= len(entries):
                    raise QueuePositionError(position, len(entries))
            moved = entries.pop(src - 1)
            if src == dst:
                return Track.from_json(moved.track_json)
            entries.insert(dst - 1, moved)
            first_changed = min(src, dst) - 1
            ids = [row.id for row in entries[first_changed:]]
            await self._renumber(conn, chat_id, ids, state.next_seq)
            return Track.from_json(moved.track_json)

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None:
        async with self._transaction("shuffle") as conn:
            state = await self._lock_chat(conn, chat_id)
            ids = [row.id for row in await self._entries(conn, chat_id)]
            (rng or random.Random()).shuffle(ids)
            await self._renumber(conn, chat_id, ids, state.next_seq)

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        async with self._transaction("clear") as conn:
            await self._lock_chat(conn, chat_id)
            removed = await conn.execute(delete(ENTRIES).where(ENTRIES.c.chat_id == chat_id))
            count = removed.rowcount
            if include_current:
                slot = await conn.execute(delete(SLOT).where(SLOT.c.chat_id == chat_id))
                count += slot.rowcount
            return count

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        async with self._transaction("set_loop") as conn:
            await self._lock_chat(conn, chat_id)
            await conn.execute(
                update(CHATS).where(CHATS.c.chat_id == chat_id).values(loop_mode=mode.value)
            )

    async def get_loop(self, chat_id: int) -> LoopMode:
        async with self._transaction("get_loop") as conn:
            query = select(CHATS.c.loop_mode).where(CHATS.c.chat_id == chat_id)
            mode = (await conn.execute(query)).scalar_one_or_none()
            return LoopMode.OFF if mode is None else LoopMode(mode)

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        # One conditional UPDATE: on PostgreSQL it waits for a concurrent advance holding
        # the slot row and then re-checks track_id, so it never writes to the next track.
        async with self._transaction("checkpoint") as conn:
            result = await conn.execute(
                update(SLOT)
                .where(SLOT.c.chat_id == chat_id, SLOT.c.track_id == track_id)
                .values(position=position, paused=paused, updated_at=now)
            )
            return bool(result.rowcount == 1)

    async def chats_with_state(self) -> list[int]:
        async with self._transaction("chats_with_state") as conn:
            query = union(select(ENTRIES.c.chat_id), select(SLOT.c.chat_id))
            return sorted(int(chat_id) for chat_id in (await conn.execute(query)).scalars())

    async def ping(self) -> None:
        async with self._transaction("ping") as conn:
            await conn.execute(select(1))

    async def close(self) -> None:
        """Nothing to release: the engine is shared and disposed of by its owner."""
