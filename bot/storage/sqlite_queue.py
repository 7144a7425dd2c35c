"""The database queue store's SQLite half: each operation is one transaction, run in one
hop on the store's own connection thread (``sqlite_thread``).

SQLite has no data-modifying CTEs, so an operation that moves a row between tables is two
or three statements, but they run back to back on that thread inside ``BEGIN IMMEDIATE ...
COMMIT``: microseconds each, against tens of them for the hop and the commit.

Guarantees are the ones the SQLAlchemy version had: ``BEGIN IMMEDIATE`` takes the write
lock before the first read, so no other writer (another process, or the application's own
engine) can interleave; the one thread runs this process's operations in the order they
were called; WAL with ``synchronous=FULL`` makes a commit durable before the call returns.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.domain.models import LoopMode, NowPlaying, Track, new_track_id
from bot.domain.queue import (
    AdvanceResult,
    Checkpoint,
    EnqueuedBatch,
    QueueFull,
    QueuePositionError,
    QueueSnapshot,
)
from bot.storage.queue_rows import SLOT_COLUMNS, loop_mode, slot, snapshots, with_id
from bot.storage.sqlite_thread import Db, SqliteThread

# The next ordering key (above every pending entry's: a key freed at the tail may be used
# again, which keeps the order), how many entries are pending (enqueue checks the limit)
# and whether the chat's state row exists yet.  Read, not a counter row written on every
# enqueue as the PostgreSQL half keeps (it orders statements by that write): here BEGIN
# IMMEDIATE orders them, and not writing the row is one WAL page less each enqueue.
NEXT_SEQ = (
    "SELECT coalesce(max(seq), 0) + 1, count(*), "
    "EXISTS (SELECT 1 FROM queue_chats WHERE chat_id = ?1) "
    "FROM queue_entries WHERE chat_id = ?1"
)
NEW_CHAT = "INSERT INTO queue_chats (chat_id, loop_mode, next_seq) VALUES (?, 'off', 0)"
# takes the head of pending out of the queue, in one statement
POP_HEAD = (
    "DELETE FROM queue_entries WHERE id = (SELECT id FROM queue_entries "
    "WHERE chat_id = ? ORDER BY seq LIMIT 1) RETURNING track_id, track_json"
)
# the same, only while the slot is empty (start_next: one statement where a read of the
# slot and then this were two)
POP_HEAD_IF_IDLE = (
    "DELETE FROM queue_entries WHERE id = (SELECT id FROM queue_entries "
    "WHERE chat_id = ?1 ORDER BY seq LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM queue_now_playing WHERE chat_id = ?1) "
    "RETURNING track_id, track_json"
)
FILL_SLOT = (
    f"INSERT INTO queue_now_playing (chat_id, track_id, {SLOT_COLUMNS}) "
    "VALUES (?, ?, ?, ?, 0.0, ?, 0)"
)
APPEND = "INSERT INTO queue_entries (chat_id, seq, track_id, track_json) VALUES (?, ?, ?, ?)"
ENTRIES = "SELECT id, track_json FROM queue_entries WHERE chat_id = ? ORDER BY seq"
# the first pending entry with this track id (ids are unique; the order only makes it exact)
REMOVE_TRACK = (
    "DELETE FROM queue_entries WHERE id = (SELECT id FROM queue_entries "
    "WHERE chat_id = ? AND track_id = ? ORDER BY seq LIMIT 1) RETURNING track_json"
)
LOOP = "SELECT loop_mode FROM queue_chats WHERE chat_id = ?"
# empties the slot if it holds the expected track, with what advance needs to go on
FINISH = (
    "DELETE FROM queue_now_playing WHERE chat_id = ? AND track_id = ? "
    "RETURNING track_json, (SELECT loop_mode FROM queue_chats WHERE chat_id = ?)"
)
CHECKPOINT = (
    "UPDATE queue_now_playing SET position = ?, paused = ?, updated_at = ? "
    "WHERE chat_id = ? AND track_id = ?"
)
SLOT = f"SELECT {SLOT_COLUMNS} FROM queue_now_playing WHERE chat_id = ?"


def next_seq(db: Db, chat_id: int) -> tuple[int, int]:
    """The first free ordering key (creating the chat row if need be) and how many
    entries the chat has pending; keys from there up are free for this transaction."""
    first, pending, known = db.execute(NEXT_SEQ, (chat_id,)).fetchone()
    if not known:
        db.execute(NEW_CHAT, (chat_id,))
    return int(first), int(pending)


def pop_into_slot(db: Db, chat_id: int, now: float, pop: str = POP_HEAD) -> tuple[str, str] | None:
    """Moves the head of pending into the (empty) slot; returns (track id, JSON)."""
    head = db.execute(pop, (chat_id,)).fetchone()
    if head is None:
        return None
    track_id, track_json = head
    db.execute(FILL_SLOT, (chat_id, track_id, track_json, now, now))
    return track_id, track_json


def renumber(db: Db, chat_id: int, ids: Sequence[int]) -> None:
    """Gives ``ids`` fresh, increasing keys above every existing one, in this order."""
    if ids:
        first, _ = next_seq(db, chat_id)
        db.executemany(
            "UPDATE queue_entries SET seq = ? WHERE id = ?",
            [(first + i, entry_id) for i, entry_id in enumerate(ids)],
        )


class SqliteQueueStore:
    """The queue operations on ``SqliteThread``: each method is one transaction, one hop.
    Metrics and error mapping are ``DatabaseQueueStore``'s."""

    def __init__(self, path: str) -> None:
        self._db = SqliteThread(path)

    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        def run(db: Db) -> int:
            seq, count = next_seq(db, chat_id)
            if count >= limit:
                raise QueueFull(limit)
            db.execute(APPEND, (chat_id, seq, track.id, track.to_json()))
            return count + 1

        return await self._db.write(run)

    async def enqueue_many(
        self, chat_id: int, tracks: Sequence[Track], *, limit: int
    ) -> EnqueuedBatch:
        if not tracks:
            raise ValueError("an empty batch")
        rows = [(track.id, track.to_json()) for track in tracks]

        def run(db: Db) -> EnqueuedBatch:
            first, count = next_seq(db, chat_id)
            fit = rows[: max(0, limit - count)]
            if not fit:
                raise QueueFull(limit)
            db.executemany(
                APPEND, [(chat_id, first + i, tid, json) for i, (tid, json) in enumerate(fit)]
            )
            return EnqueuedBatch(first=count + 1, added=len(fit))

        return await self._db.write(run)

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        def run(db: Db) -> NowPlaying | None:
            popped = pop_into_slot(db, chat_id, now, POP_HEAD_IF_IDLE)
            if popped is None:  # the slot holds a track (the answer), or nothing is pending
                return slot(db.execute(SLOT, (chat_id,)).fetchone())
            return slot((popped[1], now, 0.0, now, False))

        return await self._db.write(run)

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        fresh = new_track_id()

        def run(db: Db) -> AdvanceResult:
            ended = db.execute(FINISH, (chat_id, expected_track_id, chat_id)).fetchone()
            if ended is None:  # the slot holds another track, or none
                current = slot(db.execute(SLOT, (chat_id,)).fetchone())
                return AdvanceResult(advanced=False, finished=None, current=current)
            finished, mode = ended
            if mode == LoopMode.TRACK.value and natural:
                replay = with_id(finished, expected_track_id, fresh)
                db.execute(FILL_SLOT, (chat_id, fresh, replay, now, now))
                popped: tuple[str, str] | None = (fresh, replay)
            else:
                if mode == LoopMode.QUEUE.value:
                    seq, _ = next_seq(db, chat_id)
                    replay = with_id(finished, expected_track_id, fresh)
                    db.execute(APPEND, (chat_id, seq, fresh, replay))
                popped = pop_into_slot(db, chat_id, now)
            current = None if popped is None else slot((popped[1], now, 0.0, now, False))
            return AdvanceResult(True, Track.from_json(finished), current)

        return await self._db.write(run)

    async def now_playing(self, chat_id: int) -> NowPlaying | None:
        return await self._db.read(lambda db: slot(db.execute(SLOT, (chat_id,)).fetchone()))

    async def pending(self, chat_id: int) -> list[Track]:
        rows = await self._db.read(lambda db: db.execute(ENTRIES, (chat_id,)).fetchall())
        return [Track.from_json(row[1]) for row in rows]

    async def pending_and_loop(self, chat_id: int) -> tuple[list[Track], LoopMode]:
        snapshot = (await self.load_many([chat_id]))[chat_id]
        return list(snapshot.pending), snapshot.loop

    async def length(self, chat_id: int) -> int:
        query = "SELECT count(*) FROM queue_entries WHERE chat_id = ?"
        return int(await self._db.read(lambda db: db.execute(query, (chat_id,)).fetchone()[0]))

    async def remove(self, chat_id: int, position: int) -> Track:
        def run(db: Db) -> Track:
            entries = db.execute(ENTRIES, (chat_id,)).fetchall()
            if not 1 <= position <= len(entries):
                raise QueuePositionError(position, len(entries))
            entry_id, track_json = entries[position - 1]
            db.execute("DELETE FROM queue_entries WHERE id = ?", (entry_id,))
            return Track.from_json(track_json)

        return await self._db.write(run)

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        def run(db: Db) -> Track | None:
            row = db.execute(REMOVE_TRACK, (chat_id, track_id)).fetchone()
            return None if row is None else Track.from_json(row[0])

        return await self._db.write(run)

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        def run(db: Db) -> Track:
            entries = db.execute(ENTRIES, (chat_id,)).fetchall()
            for position in (src, dst):
                if not 1 <= position <= len(entries):
                    raise QueuePositionError(position, len(entries))
            moved = entries.pop(src - 1)
            entries.insert(dst - 1, moved)
            if src != dst:
                renumber(db, chat_id, [row[0] for row in entries[min(src, dst) - 1 :]])
            return Track.from_json(moved[1])

        return await self._db.write(run)

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None:
        def run(db: Db) -> None:
            ids = [row[0] for row in db.execute(ENTRIES, (chat_id,)).fetchall()]
            (rng or random.Random()).shuffle(ids)
            renumber(db, chat_id, ids)

        await self._db.write(run)

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        def run(db: Db) -> int:
            count = db.execute("DELETE FROM queue_entries WHERE chat_id = ?", (chat_id,)).rowcount
            if include_current:
                query = "DELETE FROM queue_now_playing WHERE chat_id = ?"
                count += db.execute(query, (chat_id,)).rowcount
            return int(count)

        return await self._db.write(run)

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        query = (
            "INSERT INTO queue_chats (chat_id, loop_mode, next_seq) VALUES (?, ?, 0) "
            "ON CONFLICT (chat_id) DO UPDATE SET loop_mode = excluded.loop_mode"
        )
        await self._db.write(lambda db: db.execute(query, (chat_id, mode.value)))

    async def get_loop(self, chat_id: int) -> LoopMode:
        row = await self._db.read(lambda db: db.execute(LOOP, (chat_id,)).fetchone())
        return loop_mode(None if row is None else row[0])

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        args = (position, paused, now, chat_id, track_id)
        return bool(await self._db.write(lambda db: db.execute(CHECKPOINT, args).rowcount == 1))

    async def checkpoint_many(self, items: Sequence[Checkpoint]) -> int:
        args = [(i.position, i.paused, i.now, i.chat_id, i.track_id) for i in items]

        def run(db: Db) -> int:
            return sum(db.execute(CHECKPOINT, row).rowcount for row in args)

        return await self._db.write(run) if args else 0

    async def chats_with_state(self) -> list[int]:
        query = "SELECT chat_id FROM queue_entries UNION SELECT chat_id FROM queue_now_playing"
        rows = await self._db.read(lambda db: db.execute(query).fetchall())
        return sorted(int(row[0]) for row in rows)

    async def load_many(self, chat_ids: Sequence[int]) -> dict[int, QueueSnapshot]:
        ids = list(chat_ids)
        marks = ",".join("?" * len(ids))

        def run(db: Db) -> dict[int, QueueSnapshot]:
            if not ids:
                return {}
            where = f"WHERE chat_id IN ({marks})"
            return snapshots(
                ids,
                db.execute(f"SELECT chat_id, {SLOT_COLUMNS} FROM queue_now_playing {where}", ids),
                db.execute(
                    f"SELECT chat_id, track_json FROM queue_entries {where} ORDER BY chat_id, seq",
                    ids,
                ),
                db.execute(f"SELECT chat_id, loop_mode FROM queue_chats {where}", ids),
            )

        return await self._db.read(run)

    async def ping(self) -> None:
        await self._db.read(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._db.close()
