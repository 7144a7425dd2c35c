"""queue_redis / queue_db / queue_pg: enqueue + start-next + advance cycles per second on
the queue stores, versus the same number of raw single-command round trips on the same
backend.

A cycle is what one track costs the store: queued, moved into the now-playing slot, ended.
Each store call is one round trip (one Lua script on Redis, one transaction on the
database), so the floors are three raw round trips per cycle that also write:

- Redis: RPUSH, LPOP, HSET with redis-py on the same redis-server (AOF, fsync always);
- SQLite: INSERT, UPDATE, DELETE with aiosqlite, each its own (autocommit) transaction, on
  the same database file with the same pragmas (WAL, synchronous=FULL);
- PostgreSQL: INSERT, UPDATE, DELETE with asyncpg on one connection, each its own
  (autocommit) transaction, in a scratch database on the same server
  (``SATTVA_BENCH_POSTGRES``, default 127.0.0.1:5432 as the tests use).

Rounds alternate between the store and the floor so that the machine's noise hits both;
the result is the median round.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosqlite
import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from benchmarks.common import Result, redis_server, scratch_dir
from bot.domain.models import Track
from bot.domain.queue import QueueStore
from bot.storage.database import SQLITE_BUSY_TIMEOUT_MS, create_engine, migrate
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.redis_queue import RedisQueueStore

ROUNDS = 5
CYCLES = 300  # per round and side
BLOCK = 10  # cycles per turn within a round
WARM_UP = 20  # cycles per side before the rounds
POSTGRES = os.environ.get(
    "SATTVA_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CHAT = -1_001_234_567_890
TRACK = Track("Bench song", "https://example.org/song.mp3", "/srv/song.mp3", duration=200.0)

Cycle = Callable[[int], Awaitable[None]]


def store_cycle(store: QueueStore) -> Cycle:
    """The store's side of a cycle.  Its tracks are made before the clock starts, one per
    cycle that ``compare`` runs (ids unique as in a real queue, each record new to the
    decode cache): making a Track is the caller's work, and the floors get their record
    ready-made too."""
    tracks = iter([TRACK.with_new_id() for _ in range(WARM_UP + ROUNDS * CYCLES)])

    async def cycle(i: int) -> None:
        track = next(tracks)
        await store.enqueue(CHAT, track, limit=100)
        slot = await store.start_next(CHAT, now=float(i))
        if slot is None or slot.track.id != track.id:
            raise AssertionError(f"start_next gave {slot}")
        result = await store.advance(CHAT, track.id, now=float(i) + 1, natural=True)
        if not result.advanced or result.current is not None:
            raise AssertionError(f"advance gave {result}")

    return cycle


#: process CPU seconds (every thread: the SQLite store's and aiosqlite's too) per side
CPU: dict[str, float] = {}


async def timed(cycle: Cycle, n: int, side: str = "") -> float:
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await cycle(i)
    CPU[side] = CPU.get(side, 0.0) + time.process_time() - cpu
    return time.perf_counter() - started


async def compare(ours: Cycle, floor: Cycle) -> list[tuple[float, float]]:
    """Cycles per second of each in every round (after a warm-up).  Within a round the
    sides alternate every ``BLOCK`` cycles: the disk's fsync latency on this shared machine
    swings by 10x within seconds, and short blocks make both sides see the same swings."""
    await timed(ours, WARM_UP)
    await timed(floor, WARM_UP)
    CPU.clear()
    rounds = []
    for _ in range(ROUNDS):
        ours_time = floor_time = 0.0
        for _ in range(CYCLES // BLOCK):
            ours_time += await timed(ours, BLOCK, "ours")
            floor_time += await timed(floor, BLOCK, "floor")
        rounds.append((CYCLES / ours_time, CYCLES / floor_time))
    return rounds


def result(name: str, rounds: list[tuple[float, float]], floor_label: str) -> Result:
    """The round with the median ratio stands for the run (a fsync stall in one round
    moves a mean, not a median); every round's ratio is listed."""
    ordered = sorted(rounds, key=lambda pair: pair[0] / pair[1])
    ours, floor = ordered[len(ordered) // 2]
    n = ROUNDS * CYCLES
    ratios = " ".join(f"{a / b:.3f}" for a, b in rounds)
    return Result(
        bench=name,
        ours=ours,
        baseline=floor,
        target=">=0.8",
        unit="cycles/s",
        rows=[
            ("cycles per side", f"{ROUNDS} x {CYCLES} (enqueue + start_next + advance)"),
            ("ratio of each round", ratios),
            ("ours: queue store (median round)", f"{ours:.0f} cycles/s"),
            (f"{floor_label} (same round)", f"{floor:.0f} cycles/s"),
            (
                "CPU per cycle (this process, all rounds)",
                f"ours {CPU['ours'] / n * 1e6:.0f} us, floor {CPU['floor'] / n * 1e6:.0f} us"
                f" (floor/ours {CPU['floor'] / CPU['ours']:.3f}; the server's own CPU not counted)",
            ),
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

            rounds = await compare(store_cycle(store), floor)
        finally:
            await store.close()
            await raw.aclose()
    return result("queue_redis", rounds, "raw redis-py: RPUSH, LPOP, HSET")


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

            rounds = await compare(store_cycle(store), floor)
        finally:
            await conn.close()
            await store.close()
            await engine.dispose()
    return result("queue_db", rounds, "raw aiosqlite: INSERT, UPDATE, DELETE")


@contextlib.asynccontextmanager
async def scratch_postgres() -> AsyncIterator[str]:
    """A new database on the PostgreSQL server (dropped afterwards); its SQLAlchemy URL."""
    server = make_url(POSTGRES)
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"sattva_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run_queue_pg() -> Result:
    async with scratch_postgres() as url:
        engine = create_engine(url)
        await migrate(engine)
        store = DatabaseQueueStore(engine)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, chat_id bigint, track_json text)"
            )
            text = TRACK.to_json()

            async def floor(i: int) -> None:
                row_id = await conn.fetchval(
                    "INSERT INTO bench_raw (chat_id, track_json) VALUES ($1, $2) RETURNING id",
                    CHAT,
                    text,
                )
                await conn.execute("UPDATE bench_raw SET chat_id = $1 WHERE id = $2", i, row_id)
                await conn.execute("DELETE FROM bench_raw WHERE id = $1", row_id)

            rounds = await compare(store_cycle(store), floor)
        finally:
            await conn.close()
            await store.close()
            await engine.dispose()
    return result("queue_pg", rounds, "raw asyncpg: INSERT, UPDATE, DELETE")


if __name__ == "__main__":
    for run in (run_queue_redis, run_queue_db, run_queue_pg):
        asyncio.run(run()).print()
