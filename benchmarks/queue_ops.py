"""queue_redis / queue_db: enqueue + start-next + advance cycles per second on the queue
stores, versus the same number of raw single-command round trips on the same backend.

A cycle is what one track costs the store: queued, moved into the now-playing slot, ended.
Each store call is one round trip (one Lua script on Redis, one transaction on the
database), so the floors are three raw round trips per cycle that also write:

- Redis: RPUSH, LPOP, HSET with redis-py on the same redis-server (AOF, fsync always);
- SQLite: INSERT, UPDATE, DELETE with aiosqlite, each its own (autocommit) transaction, on
  the same database file with the same pragmas (WAL, synchronous=FULL).

Rounds alternate between the store and the floor so that the machine's noise hits both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
from redis.asyncio import Redis

from benchmarks.common import Result, redis_server, scratch_dir
from bot.domain.models import Track
from bot.domain.queue import QueueStore
from bot.storage.database import SQLITE_BUSY_TIMEOUT_MS, create_engine, migrate
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.redis_queue import RedisQueueStore

ROUNDS = 3
CYCLES = 300  # per round and side
CHAT = -1_001_234_567_890
TRACK = Track("Bench song", "https://example.org/song.mp3", "/srv/song.mp3", duration=200.0)

Cycle = Callable[[int], Awaitable[None]]


def store_cycle(store: QueueStore) -> Cycle:
    async def cycle(i: int) -> None:
        track = TRACK.with_new_id()
        await store.enqueue(CHAT, track, limit=100)
        slot = await store.start_next(CHAT, now=float(i))
        if slot is None or slot.track.id != track.id:
            raise AssertionError(f"start_next gave {slot}")
        result = await store.advance(CHAT, track.id, now=float(i) + 1, natural=True)
        if not result.advanced or result.current is not None:
            raise AssertionError(f"advance gave {result}")

    return cycle


async def timed(cycle: Cycle, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        await cycle(i)
    return time.perf_counter() - started


async def compare(ours: Cycle, floor: Cycle) -> tuple[float, float]:
    """Cycles per second of each, from alternating rounds (after one warm-up round each)."""
    await timed(ours, 20)
    await timed(floor, 20)
    ours_time = floor_time = 0.0
    for _ in range(ROUNDS):
        ours_time += await timed(ours, CYCLES)
        floor_time += await timed(floor, CYCLES)
    total = ROUNDS * CYCLES
    return total / ours_time, total / floor_time


def result(name: str, ours: float, floor: float, floor_label: str) -> Result:
    return Result(
        bench=name,
        ours=ours,
        baseline=floor,
        target=">=0.8",
        unit="cycles/s",
        rows=[
            ("cycles per side", f"{ROUNDS * CYCLES} (enqueue + start_next + advance)"),
            ("ours: queue store", f"{ours:.0f} cycles/s"),
            (floor_label, f"{floor:.0f} cycles/s"),
        ],
    )


async def run_queue_redis() -> Result:
    with scratch_dir() as workdir, redis_server(workdir) as server:
        store = await RedisQueueStore.open(server.url)
        raw = Redis.from_url(server.url, decode_responses=True)
        try:
            key = f"bench:{CHAT}"

            async def floor(i: int) -> None:
                await raw.rpush(key + ":pending", TRACK.to_json())
                await raw.lpop(key + ":pending")
                await raw.hset(key + ":now", mapping={"track": TRACK.to_json(), "at": i})

            ours, bare = await compare(store_cycle(store), floor)
        finally:
            await store.close()
            await raw.aclose()
    return result("queue_redis", ours, bare, "raw redis-py: RPUSH, LPOP, HSET")


async def raw_sqlite(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)  # autocommit: one statement,
    for pragma in (  # one transaction; the same pragmas as bot.storage.database
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
    ):
        await conn.execute(pragma)
    await conn.execute(
        "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, chat_id INTEGER, track_json TEXT)"
    )
    return conn


async def run_queue_db() -> Result:
    with scratch_dir() as workdir:
        path = workdir / "bench.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        store = DatabaseQueueStore(engine)
        conn = await raw_sqlite(path)
        try:
            text = TRACK.to_json()

            async def floor(i: int) -> None:
                cursor = await conn.execute(
                    "INSERT INTO bench_raw (chat_id, track_json) VALUES (?, ?)", (CHAT, text)
                )
                row_id = cursor.lastrowid
                await conn.execute("UPDATE bench_raw SET chat_id = ? WHERE id = ?", (i, row_id))
                await conn.execute("DELETE FROM bench_raw WHERE id = ?", (row_id,))

            ours, bare = await compare(store_cycle(store), floor)
        finally:
            await conn.close()
            await store.close()
            await engine.dispose()
    return result("queue_db", ours, bare, "raw aiosqlite: INSERT, UPDATE, DELETE")


if __name__ == "__main__":
    for run in (run_queue_redis, run_queue_db):
        asyncio.run(run()).print()
