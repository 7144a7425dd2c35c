"""A study, not one of the benchmarks: would the slot as a flagged row of the entries table
meet queue_pg's target?  (benchmarks/README.md, "third look".)

One cycle's three statements (enqueue, start_next, advance) run bare on one asyncpg
connection, with no store around them, in four shapes beside the floor's INSERT, UPDATE,
DELETE, alternating blocks of ten cycles on a scratch database:

- today: the store's statements (``bot.storage.pg_queue``) on the migrated schema;
- flagged: a table ``qf`` holding pending entries and the slot (``playing``), one row
  touched per statement, the chat's order checked by the unique ``(chat_id, seq)`` index;
- flagged + chat row: the same, each statement also writing the chat's ``queue_chats`` row
  as today's do (how they are put in order per chat);
- flagged at SERIALIZABLE: no chat-row write; the server orders what conflicts.

Prints each shape's median µs per statement, summed per cycle, and floor / shape.

    .venv/bin/python -m benchmarks.queue_pg_schema
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.queue_ops import CHAT, TRACK, scratch_postgres
from bot.storage import pg_queue
from bot.storage.database import create_engine, migrate

BLOCKS = 60
BLOCK = 10

SCHEMA = """
CREATE TABLE qf (id bigserial PRIMARY KEY, chat_id bigint NOT NULL, seq bigint NOT NULL,
  track_id text NOT NULL, track_json text NOT NULL, playing bool NOT NULL DEFAULT false,
  started_at float8, position float8, updated_at float8, paused bool);
CREATE UNIQUE INDEX qf_order ON qf (chat_id, seq);
CREATE TABLE bench_raw (id bigserial PRIMARY KEY, chat_id bigint, track_json text);
"""
SLOT = "track_json, started_at, position, updated_at, paused"
# $1 chat, $2 id, $3 JSON, $4 limit
ENQUEUE = """
WITH n AS (SELECT count(*) FILTER (WHERE NOT playing) AS n, coalesce(max(seq), 0) AS m
           FROM qf WHERE chat_id = $1),
ins AS (INSERT INTO qf (chat_id, seq, track_id, track_json)
        SELECT $1, m + 1, $2, $3 FROM n WHERE n < $4 RETURNING 1)
SELECT n.n, (SELECT count(*) FROM ins) FROM n
"""
# $1 chat, $2 now: the head is the slot when it plays, else it starts
START_NEXT = f"""
WITH head AS (SELECT id, playing, {SLOT} FROM qf WHERE chat_id = $1 ORDER BY seq LIMIT 1),
up AS (UPDATE qf SET playing = true, started_at = $2, position = 0, updated_at = $2,
              paused = false
       WHERE id = (SELECT id FROM head WHERE NOT playing) RETURNING {SLOT})
SELECT {SLOT} FROM head WHERE playing UNION ALL SELECT * FROM up
"""
# $1 chat, $2 the slot's track id, $3 now
ADVANCE = f"""
WITH fin AS (DELETE FROM qf WHERE chat_id = $1 AND playing AND track_id = $2
             RETURNING track_json),
nxt AS (UPDATE qf SET playing = true, started_at = $3, position = 0, updated_at = $3,
               paused = false
        WHERE id = (SELECT id FROM qf WHERE chat_id = $1 AND NOT playing
                    AND EXISTS (SELECT 1 FROM fin) ORDER BY seq LIMIT 1)
        RETURNING {SLOT})
SELECT 'finished', track_json, NULL::float8, NULL::float8, NULL::float8, NULL::bool FROM fin
UNION ALL SELECT 'current', * FROM nxt
"""
CHAT_ROW = "chat AS (INSERT INTO queue_chats (chat_id, loop_mode, next_seq) VALUES ($1, 'off', 0) "
CHAT_ROW += "ON CONFLICT (chat_id) DO UPDATE SET next_seq = queue_chats.next_seq RETURNING 1), "


def with_chat_row(statement: str) -> str:
    """The statement writing the chat's row first, as today's do (the other CTEs need not
    read it: the row lock is what orders two statements on one chat)."""
    return statement.replace("WITH ", "WITH " + CHAT_ROW, 1)


Cycle = Callable[[int], Awaitable[list[float]]]


async def steps(*calls: Callable[[], Awaitable[object]]) -> tuple[list[float], object]:
    """Runs the calls in turn: the seconds each took, and the last one's result."""
    marks, result = [time.perf_counter()], None
    for call in calls:
        result = await call()
        marks.append(time.perf_counter())
    return [b - a for a, b in itertools.pairwise(marks)], result


def finished(rows: object) -> None:
    if not isinstance(rows, list) or not rows or rows[0][0] != "finished":
        raise AssertionError(f"advance gave {rows}")


def flagged(conn: asyncpg.Connection, chat: int, chat_row: bool) -> Cycle:
    shape = with_chat_row if chat_row else str
    enqueue, start_next, advance = (shape(s) for s in (ENQUEUE, START_NEXT, ADVANCE))

    async def cycle(i: int) -> list[float]:
        track = TRACK.with_new_id()
        payload = track.to_json()  # client work, outside the statements' time
        seconds, rows = await steps(
            lambda: conn.fetch(enqueue, chat, track.id, payload, 100),
            lambda: conn.fetch(start_next, chat, float(i)),
            lambda: conn.fetch(advance, chat, track.id, float(i) + 1),
        )
        finished(rows)
        return seconds

    return cycle


def today(conn: asyncpg.Connection) -> Cycle:
    async def cycle(i: int) -> list[float]:
        track, copy = TRACK.with_new_id(), TRACK.with_new_id().id
        payload = track.to_json()
        seconds, rows = await steps(
            lambda: conn.fetch(pg_queue.ENQUEUE, CHAT, track.id, payload, 100, None, 0),
            lambda: conn.fetch(pg_queue.START_NEXT, CHAT, float(i), None, 0),
            lambda: conn.fetch(pg_queue.ADVANCE, CHAT, track.id, i + 1.0, True, copy, None, 0),
        )
        finished(rows)
        return seconds

    return cycle


def floor(conn: asyncpg.Connection) -> Cycle:
    text = TRACK.to_json()

    async def cycle(i: int) -> list[float]:
        row: list[int] = []

        async def insert() -> None:
            row.append(
                await conn.fetchval(
                    "INSERT INTO bench_raw (chat_id, track_json) VALUES ($1, $2) RETURNING id",
                    CHAT,
                    text,
                )
            )

        seconds, _ = await steps(
            insert,
            lambda: conn.execute("UPDATE bench_raw SET chat_id = $1 WHERE id = $2", i, row[0]),
            lambda: conn.execute("DELETE FROM bench_raw WHERE id = $1", row[0]),
        )
        return seconds

    return cycle


async def study() -> None:
    async with scratch_postgres() as url:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        repeatable = {"default_transaction_isolation": "repeatable read"}
        serializable = {"default_transaction_isolation": "serializable"}
        rr = await asyncpg.connect(dsn, server_settings=repeatable)
        ser = await asyncpg.connect(dsn, server_settings=serializable)
        plain = await asyncpg.connect(dsn)
        try:
            await plain.execute(SCHEMA)
            shapes: dict[str, Cycle] = {
                "today": today(rr),
                "flagged + chat row": flagged(rr, CHAT, chat_row=True),
                "flagged": flagged(rr, CHAT + 1, chat_row=False),
                "flagged at SERIALIZABLE": flagged(ser, CHAT + 2, chat_row=False),
                "floor": floor(plain),
            }
            times: dict[str, list[list[float]]] = {name: [] for name in shapes}
            for cycle in shapes.values():  # warm-up: statements prepared, caches hot
                for i in range(30):
                    await cycle(i)
            for _ in range(BLOCKS):
                for name, cycle in shapes.items():
                    for i in range(BLOCK):
                        times[name].append(await cycle(i))
        finally:
            for conn in (rr, ser, plain):
                await conn.close()
    per_cycle = {
        name: sum(statistics.median(step) for step in zip(*rows, strict=True)) * 1e6
        for name, rows in times.items()
    }
    for name, micros in per_cycle.items():
        print(f"{name:24} {micros:7.0f} us a cycle   floor/this {per_cycle['floor'] / micros:.3f}")


if __name__ == "__main__":
    asyncio.run(study())
