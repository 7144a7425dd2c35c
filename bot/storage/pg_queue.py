"""The database queue store's PostgreSQL half: every operation is one SQL statement, one
round trip, on asyncpg's own connections.

One statement, one transaction: the data-modifying CTEs below delete, insert and update
together, so a crash leaves the state before or after a statement, never between (the
contract's "each track in exactly one place").

Per-chat order without a separate ``SELECT ... FOR UPDATE`` round trip: every statement
that changes a chat's queue first writes that chat's ``queue_chats`` row (an upsert; the
other CTEs wait for it through ``(SELECT chat_id FROM chat)``), and the connections run at
REPEATABLE READ.  Two statements on one chat therefore conflict on that row; the second
waits for the first to commit and then fails with a serialization error instead of acting
on the state it saw before the wait, and is run again on the new state.  So each statement
acts on the latest committed state of its chat, as if the chats were locked one at a time;
other chats are not blocked.  (READ COMMITTED would not do: sibling CTEs read the snapshot
taken before the lock wait.)

asyncpg rather than SQLAlchemy: one ``fetch`` per call, no per-call ORM work, statements
prepared once per connection, on the store's own connections (``pg_pool``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg.exceptions import DeadlockDetectedError, SerializationError

from bot.domain.models import LoopMode, NowPlaying, Track, new_track_id
from bot.domain.queue import (
    AdvanceResult,
    Checkpoint,
    EnqueuedBatch,
    Fenced,
    QueueFull,
    QueuePositionError,
    QueueSnapshot,
)
from bot.storage.database import CONNECT_TIMEOUT_SECONDS
from bot.storage.pg_pool import Connections, PgConnection
from bot.storage.queue_rows import SLOT_COLUMNS, Fence, loop_mode, slot, snapshots

#: attempts of one statement that keeps losing the race for its chat's row; each loss means
#: another statement on that chat committed, so this bounds a pathological storm only
MAX_ATTEMPTS = 100
POOL_SIZE = 10
#: the SQLSTATE sattva_fence raises (migration 0006): a newer holder of the chat exists
FENCED_STATE = "SF001"
RAISE_FENCE = (
    "INSERT INTO cluster_fences (name, token) VALUES ($1, $2) ON CONFLICT (name) "
    "DO UPDATE SET token = greatest(cluster_fences.token, excluded.token)"
)


def _fenced(first: int) -> str:
    """The fence check of a statement whose fence name and token are ``$first`` and the
    next parameter: true, or the statement fails (SF001) when a newer holder exists."""
    return f"sattva_fence(${first}::text, ${first + 1}::bigint)"


def _chat(fence: int, step: str = "0") -> str:
    """The CTE that writes (creating it if needed) the chat's row, reserving ``step``
    ordering keys from ``seq`` on (see the module doc), after the fence check of the
    parameters from ``fence`` on: every statement that changes a chat writes this row, so
    every such statement checks its fence."""
    return (
        "chat AS (INSERT INTO queue_chats AS c (chat_id, loop_mode, next_seq) "
        f"SELECT $1, 'off', {step} WHERE {_fenced(fence)} ON CONFLICT (chat_id) DO UPDATE "
        f"SET next_seq = c.next_seq + {step} "
        f"RETURNING c.chat_id, c.loop_mode, c.next_seq - {step} AS seq)"
    )


FILL = (
    "INSERT INTO queue_now_playing (chat_id, track_id, track_json, started_at, position, "
    "updated_at, paused) SELECT $1, track_id, track_json, {now}, 0, {now}, false FROM {src} "
    f"RETURNING {SLOT_COLUMNS}"
)

ENQUEUE = f"""
WITH {_chat(5, "1")},
n AS (SELECT count(*) AS n FROM queue_entries WHERE chat_id = $1),
ins AS (INSERT INTO queue_entries (chat_id, seq, track_id, track_json)
        SELECT chat_id, seq, $2, $3 FROM chat, n WHERE n.n < $4 RETURNING 1)
SELECT n.n, (SELECT count(*) FROM ins) AS added FROM n
"""

# $2 the ids, $3 the JSON of the batch, $4 the limit, $5 and $6 the fence.  Keys are reserved
# for the whole batch (a gap in seq is harmless: only the order matters); the prefix that
# fits is inserted.
ENQUEUE_MANY = f"""
WITH {_chat(5, "cardinality($2::text[])")},
n AS (SELECT count(*) AS n FROM queue_entries WHERE chat_id = $1),
ins AS (INSERT INTO queue_entries (chat_id, seq, track_id, track_json)
        SELECT chat.chat_id, chat.seq + t.pos - 1, t.id, t.json
        FROM chat, n, unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(id, json, pos)
        WHERE t.pos <= $4 - n.n RETURNING 1)
SELECT n.n, (SELECT count(*) FROM ins) AS added FROM n
"""

START_NEXT = f"""
WITH {_chat(3)},
occupant AS (SELECT {SLOT_COLUMNS} FROM queue_now_playing WHERE chat_id = $1),
popped AS (DELETE FROM queue_entries WHERE id = (
             SELECT id FROM queue_entries WHERE chat_id = (SELECT chat_id FROM chat)
             ORDER BY seq LIMIT 1)
           AND NOT EXISTS (SELECT 1 FROM occupant) RETURNING track_id, track_json),
filled AS ({FILL.format(now="$2::float8", src="popped")})
SELECT * FROM occupant UNION ALL SELECT * FROM filled
"""

# $1 chat, $2 expected id, $3 now, $4 natural, $5 the id of a replayed / requeued copy.
# Rows: ('finished', json, NULLs), ('current', slot), or ('occupant', slot) if not advanced.
ADVANCE = f"""
WITH {_chat(6, "1")},
occupant AS (SELECT {SLOT_COLUMNS} FROM queue_now_playing WHERE chat_id = $1),
fin AS (DELETE FROM queue_now_playing
        WHERE chat_id = (SELECT chat_id FROM chat) AND track_id = $2
        RETURNING track_json,
                  replace(track_json, '"id":"' || $2::text || '"', '"id":"' || $5::text || '"')
                  AS copy),
go AS (SELECT chat.loop_mode = 'track' AND $4::bool AS replay,
              chat.loop_mode = 'queue' AS requeue, chat.seq, fin.copy FROM chat, fin),
head AS (SELECT id FROM queue_entries
         WHERE chat_id = $1 AND EXISTS (SELECT 1 FROM go WHERE NOT replay)
         ORDER BY seq LIMIT 1),
popped AS (DELETE FROM queue_entries WHERE id = (SELECT id FROM head)
           RETURNING track_id, track_json),
requeued AS (INSERT INTO queue_entries (chat_id, seq, track_id, track_json)
             SELECT $1, seq, $5::text, copy FROM go
             WHERE requeue AND EXISTS (SELECT 1 FROM head)),
nxt AS (SELECT $5::text AS track_id, copy AS track_json FROM go
        WHERE replay OR (requeue AND NOT EXISTS (SELECT 1 FROM head))
        UNION ALL SELECT track_id, track_json FROM popped),
filled AS ({FILL.format(now="$3::float8", src="nxt")})
SELECT 'finished' AS kind, track_json, NULL::float8, NULL::float8, NULL::float8, NULL::bool
  FROM fin
UNION ALL SELECT 'current', * FROM filled
UNION ALL SELECT 'occupant', * FROM occupant WHERE NOT EXISTS (SELECT 1 FROM fin)
"""

REMOVE = f"""
WITH {_chat(3)},
target AS (SELECT id FROM queue_entries WHERE chat_id = (SELECT chat_id FROM chat)
           ORDER BY seq OFFSET greatest($2::bigint - 1, 0) LIMIT 1),
gone AS (DELETE FROM queue_entries WHERE id = (SELECT id FROM target) AND $2::bigint >= 1
         RETURNING track_json)
SELECT (SELECT track_json FROM gone),
       (SELECT count(*) FROM queue_entries WHERE chat_id = $1) AS length
"""

# $2 a track id: the first pending entry carrying it goes (NULL: none did)
REMOVE_TRACK = f"""
WITH {_chat(3)},
gone AS (DELETE FROM queue_entries WHERE id = (
           SELECT id FROM queue_entries WHERE chat_id = (SELECT chat_id FROM chat)
           AND track_id = $2 ORDER BY seq LIMIT 1)
         RETURNING track_json)
SELECT (SELECT track_json FROM gone)
"""

# $2 the ids as read (refused if the queue changed since), $3 the same ids in the new order.
REORDER = f"""
WITH {_chat(4, "cardinality($3::bigint[])")},
cur AS (SELECT coalesce(array_agg(id ORDER BY seq), '{{}}') AS ids
        FROM queue_entries WHERE chat_id = $1),
upd AS (UPDATE queue_entries e SET seq = chat.seq + p.pos - 1
        FROM chat, cur, unnest($3::bigint[]) WITH ORDINALITY AS p(id, pos)
        WHERE e.id = p.id AND cur.ids = $2::bigint[] RETURNING 1)
SELECT cur.ids = $2::bigint[] AS applied FROM cur
"""

CLEAR = f"""
WITH {_chat(3)},
entries AS (DELETE FROM queue_entries WHERE chat_id = (SELECT chat_id FROM chat) RETURNING 1),
current AS (DELETE FROM queue_now_playing
            WHERE chat_id = (SELECT chat_id FROM chat) AND $2::bool RETURNING 1)
SELECT (SELECT count(*) FROM entries) + (SELECT count(*) FROM current)
"""

SET_LOOP = (
    f"INSERT INTO queue_chats (chat_id, loop_mode, next_seq) SELECT $1, $2, 0 WHERE {_fenced(3)} "
    "ON CONFLICT (chat_id) DO UPDATE SET loop_mode = excluded.loop_mode"
)
CHECKPOINT = (
    "UPDATE queue_now_playing SET position = $3, paused = $4, updated_at = $5 "
    f"WHERE chat_id = $1 AND track_id = $2 AND {_fenced(6)} RETURNING 1"
)
CHECKPOINT_MANY = """
WITH written AS (
  UPDATE queue_now_playing s SET position = v.position, paused = v.paused, updated_at = v.now
  FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::bool[], $5::float8[],
              $6::text[], $7::bigint[])
       AS v(chat_id, track_id, position, paused, now, fence, token)
  WHERE s.chat_id = v.chat_id AND s.track_id = v.track_id AND sattva_fence(v.fence, v.token)
  RETURNING 1)
SELECT count(*) FROM written
"""
ENTRIES = "SELECT id, track_json FROM queue_entries WHERE chat_id = $1 ORDER BY seq"
LOAD_MANY = f"""
SELECT ids.chat_id, q.loop_mode, s.track_json IS NOT NULL AS playing,
       {", ".join(f"s.{c.strip()}" for c in SLOT_COLUMNS.split(","))},
       ARRAY(SELECT e.track_json FROM queue_entries e
             WHERE e.chat_id = ids.chat_id ORDER BY e.seq) AS pending
FROM unnest($1::bigint[]) AS ids(chat_id)
LEFT JOIN queue_chats q ON q.chat_id = ids.chat_id
LEFT JOIN queue_now_playing s ON s.chat_id = ids.chat_id
"""


class PostgresQueueStore:
    """The queue operations as single statements.  Metrics and error mapping are
    ``DatabaseQueueStore``'s; connections are opened on first use."""

    def __init__(self, dsn: str, *, fence: Fence | None = None) -> None:
        self._dsn = dsn
        self._fence = fence
        self._pool = Connections(self._connect, POOL_SIZE)

    async def _connect(self) -> PgConnection:
        conn: PgConnection = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            connection_class=PgConnection,
            server_settings={"default_transaction_isolation": "repeatable read"},
        )
        return conn

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        pool = self._pool
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await pool.fetch(query, *args)
            except (SerializationError, DeadlockDetectedError):
                if attempt == MAX_ATTEMPTS:
                    raise
            except asyncpg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) == FENCED_STATE:
                    raise Fenced() from exc
                raise
        raise AssertionError("unreachable")

    def _fenced(self, chat_id: int) -> tuple[str | None, int]:
        """The fence name and token of a write for the chat ((None, 0): not fenced)."""
        fenced = self._fence(chat_id) if self._fence is not None else None
        return (None, 0) if fenced is None else fenced

    async def raise_fence(self, name: str, token: int) -> None:
        """Records a newly taken lease's token: from now on, writes carrying an older
        token for ``name`` fail.  Waits for such writes already in flight (share locks)."""
        await self._fetch(RAISE_FENCE, name, token)

    async def _value(self, query: str, *args: Any) -> Any:
        rows = await self._fetch(query, *args)
        return rows[0][0] if rows else None

    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        ((count, added),) = await self._fetch(
            ENQUEUE, chat_id, track.id, track.to_json(), limit, *self._fenced(chat_id)
        )
        if not added:
            raise QueueFull(limit)
        return int(count) + 1

    async def enqueue_many(
        self, chat_id: int, tracks: Sequence[Track], *, limit: int
    ) -> EnqueuedBatch:
        if not tracks:
            raise ValueError("an empty batch")
        ids, payloads = [t.id for t in tracks], [t.to_json() for t in tracks]
        ((count, added),) = await self._fetch(
            ENQUEUE_MANY, chat_id, ids, payloads, limit, *self._fenced(chat_id)
        )
        if not added:
            raise QueueFull(limit)
        return EnqueuedBatch(first=int(count) + 1, added=int(added))

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        rows = await self._fetch(START_NEXT, chat_id, now, *self._fenced(chat_id))
        return slot(rows[0]) if rows else None

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        rows = await self._fetch(
            ADVANCE,
            chat_id,
            expected_track_id,
            now,
            natural,
            new_track_id(),
            *self._fenced(chat_id),
        )
        by_kind = {row[0]: row[1:] for row in rows}
        if "finished" not in by_kind:
            return AdvanceResult(
                advanced=False, finished=None, current=slot(by_kind.get("occupant"))
            )
        finished = Track.from_json(by_kind["finished"][0])
        return AdvanceResult(advanced=True, finished=finished, current=slot(by_kind.get("current")))

    async def now_playing(self, chat_id: int) -> NowPlaying | None:
        query = f"SELECT {SLOT_COLUMNS} FROM queue_now_playing WHERE chat_id = $1"
        rows = await self._fetch(query, chat_id)
        return slot(rows[0]) if rows else None

    async def pending(self, chat_id: int) -> list[Track]:
        return [Track.from_json(row[1]) for row in await self._fetch(ENTRIES, chat_id)]

    async def pending_and_loop(self, chat_id: int) -> tuple[list[Track], LoopMode]:
        snapshot = (await self.load_many([chat_id]))[chat_id]
        return list(snapshot.pending), snapshot.loop

    async def length(self, chat_id: int) -> int:
        query = "SELECT count(*) FROM queue_entries WHERE chat_id = $1"
        return int(await self._value(query, chat_id))

    async def remove(self, chat_id: int, position: int) -> Track:
        ((track_json, length),) = await self._fetch(
            REMOVE, chat_id, position, *self._fenced(chat_id)
        )
        if track_json is None:
            raise QueuePositionError(position, int(length))
        return Track.from_json(track_json)

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        ((track_json,),) = await self._fetch(
            REMOVE_TRACK, chat_id, track_id, *self._fenced(chat_id)
        )
        return None if track_json is None else Track.from_json(track_json)

    async def _reorder(self, chat_id: int, ids: list[int], order: list[int]) -> bool:
        return bool(await self._value(REORDER, chat_id, ids, order, *self._fenced(chat_id)))

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        """Reads the queue, then applies the new order in one statement that refuses it if
        the queue changed in between (then reads again)."""
        while True:
            entries = await self._fetch(ENTRIES, chat_id)
            for position in (src, dst):
                if not 1 <= position <= len(entries):
                    raise QueuePositionError(position, len(entries))
            order = list(entries)
            moved = order.pop(src - 1)
            order.insert(dst - 1, moved)
            ids = [row[0] for row in entries]
            if src == dst or await self._reorder(chat_id, ids, [row[0] for row in order]):
                return Track.from_json(moved[1])

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        while True:
            ids = [row[0] for row in await self._fetch(ENTRIES, chat_id)]
            order = list(ids)
            rng.shuffle(order)
            if await self._reorder(chat_id, ids, order):
                return

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        return int(await self._value(CLEAR, chat_id, include_current, *self._fenced(chat_id)))

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        await self._fetch(SET_LOOP, chat_id, mode.value, *self._fenced(chat_id))

    async def get_loop(self, chat_id: int) -> LoopMode:
        query = "SELECT loop_mode FROM queue_chats WHERE chat_id = $1"
        return loop_mode(await self._value(query, chat_id))

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        rows = await self._fetch(
            CHECKPOINT, chat_id, track_id, position, paused, now, *self._fenced(chat_id)
        )
        return len(rows) == 1

    async def checkpoint_many(self, items: Sequence[Checkpoint]) -> int:
        if not items:
            return 0
        fences = [self._fenced(i.chat_id) for i in items]
        columns: list[list[Any]] = [
            [i.chat_id for i in items],
            [i.track_id for i in items],
            [i.position for i in items],
            [i.paused for i in items],
            [i.now for i in items],
            [name for name, _ in fences],
            [token for _, token in fences],
        ]
        return int(await self._value(CHECKPOINT_MANY, *columns))

    async def chats_with_state(self) -> list[int]:
        query = "SELECT chat_id FROM queue_entries UNION SELECT chat_id FROM queue_now_playing"
        return sorted(int(row[0]) for row in await self._fetch(query))

    async def load_many(self, chat_ids: Sequence[int]) -> dict[int, QueueSnapshot]:
        ids = list(chat_ids)
        rows = await self._fetch(LOAD_MANY, ids) if ids else []
        return snapshots(
            ids,
            [(row[0], *row[3:8]) for row in rows if row[2]],
            [(row[0], item) for row in rows for item in row[8]],
            [(row[0], row[1]) for row in rows if row[1] is not None],
        )

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()
