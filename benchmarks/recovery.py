"""recovery: 10,000 chats with 10 tracks each in Redis (one in the now-playing slot, nine
pending, as a crash mid-playback leaves them); the time from "process start" to every
player restored, versus a raw SCAN + pipelined LRANGE of the same keys.

"Process start" here is: opening the Redis queue store, building the PlayerManager (with
the SQLite repositories for chat settings and history) and ``await players.recover()``.
The engine is the FakeEngine from tests/support (every ``play`` succeeds at once), so no
ffmpeg starts: what is measured is the store, the players and the events, not decoding.
The SQLite schema is migrated before the clock starts (a restart finds it migrated).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import Result, migrated_database, redis_server, scratch_dir
from bot.config import settings_from_mapping
from bot.domain.clock import SystemClock
from bot.domain.manager import PlayerManager
from bot.domain.models import Track
from bot.storage.redis_queue import CHATS_KEY, KEY_PREFIX
from bot.wiring import build_core
from tests.support.fake_engine import FakeEngine

CHATS = 10_000
TRACKS = 10
BATCH = 500  # chats per pipeline when writing and reading


def chat_ids(n: int = CHATS) -> list[int]:
    return [-100_800_000_000 - i for i in range(n)]


async def fill(url: str, n: int = CHATS) -> None:
    """Writes the keys RedisQueueStore uses (see its docstring) directly, in pipelines."""
    client = Redis.from_url(url, decode_responses=True)
    now = time.time()
    try:
        ids = chat_ids(n)
        for first in range(0, len(ids), BATCH):
            pipe = client.pipeline(transaction=False)
            for chat_id in ids[first : first + BATCH]:
                base = f"{KEY_PREFIX}{chat_id}:"
                tracks = [
                    Track(f"Song {k} of {chat_id}", f"https://example.org/{k}", f"/srv/{k}.mp3",
                          duration=600.0, requested_by=7, requested_by_name="Bench")
                    for k in range(TRACKS)
                ]  # fmt: skip
                head = tracks[0]
                pipe.hset(
                    base + "now",
                    mapping={
                        "id": head.id,
                        "track": head.to_json(),
                        "started_at": repr(now - 30),
                        "position": "25.0",
                        "updated_at": repr(now - 5),
                        "paused": "0",
                    },
                )
                pipe.rpush(base + "pending", *(t.to_json() for t in tracks[1:]))
                pipe.sadd(CHATS_KEY, str(chat_id))
            await pipe.execute()
    finally:
        await client.aclose()


async def raw_read(url: str) -> int:
    """The floor: find every pending list with SCAN, read them all with pipelined LRANGE."""
    client = Redis.from_url(url, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=f"{KEY_PREFIX}*:pending", count=1000)]
        items = 0
        for first in range(0, len(keys), BATCH):
            pipe = client.pipeline(transaction=False)
            for key in keys[first : first + BATCH]:
                pipe.lrange(key, 0, -1)
            items += sum(len(v) for v in await pipe.execute())
        return items
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def players_on(url: str, database: Path) -> AsyncIterator[tuple[PlayerManager, FakeEngine]]:
    """What the bot builds at start for recovery: the store, the repositories, the players
    (on the FakeEngine)."""
    settings = settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:" + "A" * 35},
            "engine": {"kind": "local"},
            "web": {"enabled": False},
            "storage": {"database_url": f"sqlite+aiosqlite:///{database}", "redis_url": url},
            "sources": {"ytdlp_enabled": False, "cache_dir": str(database.parent / "cache")},
        }
    )
    # on the system clock, so a resumed stream's position moves on as a real one's does
    # (without one it stands still, and the player's checkpoint loop, which runs during
    # recovery as in the bot, would "correct" every chat's drifting position 5 s in)
    engine = FakeEngine(clock=SystemClock())
    async with build_core(settings, engine=engine) as core:
        yield core.players, engine


async def run() -> Result:
    with scratch_dir() as workdir, redis_server(workdir) as server:
        database = await migrated_database(workdir)
        await fill(server.url)
        started = time.perf_counter()
        items = await raw_read(server.url)
        raw_seconds = time.perf_counter() - started
        if items != CHATS * (TRACKS - 1):
            raise AssertionError(f"raw read saw {items} pending tracks")
        started = time.perf_counter()
        async with players_on(server.url, database) as (players, engine):
            restored = await players.recover()
            ours_seconds = time.perf_counter() - started  # the final checkpoints not counted
        if restored != CHATS or sum(1 for call in engine.calls if call[0] == "play") != CHATS:
            raise AssertionError(f"restored {restored} of {CHATS}")
    return Result(
        bench="recovery",
        ours=ours_seconds,
        baseline=raw_seconds,
        target="<=2.0",
        unit="s",
        rows=[
            ("state", f"{CHATS} chats x {TRACKS} tracks (1 playing + {TRACKS - 1} pending)"),
            ("ours: store + PlayerManager + recover()", f"{ours_seconds:.2f} s"),
            ("raw SCAN + pipelined LRANGE", f"{raw_seconds:.2f} s"),
            ("ours per chat", f"{ours_seconds / CHATS * 1000:.3f} ms"),
        ],
        notes=["FakeEngine (no ffmpeg); chat settings and history on SQLite"],
    )


if __name__ == "__main__":
    asyncio.run(run()).print()
