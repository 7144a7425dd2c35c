"""Redis specifics: one round trip per operation, and keys an operator can read."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.domain.models import LoopMode, Track
from bot.domain.queue import StorageUnavailable
from bot.storage import redis_wire
from bot.storage.redis_queue import MAX_CONNECTIONS, RedisQueueStore


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisQueueStore]:
    store = await RedisQueueStore.open(redis_url)
    yield store
    await store.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The commands of every round trip the store's client makes from now on: one entry
    per write-then-read, the commands' names joined with "+" when several went at once."""
    trips: list[str] = []
    original = redis_wire._Connection.call_many

    async def counting(self: Any, commands: Sequence[Sequence[Any]], timeout: float) -> list[Any]:
        trips.append("+".join(str(command[0]).lower() for command in commands))
        return await original(self, commands, timeout)

    monkeypatch.setattr(redis_wire._Connection, "call_many", counting)
    return trips


async def test_each_operation_is_one_round_trip(store: RedisQueueStore, sent: list[str]) -> None:
    a, b = Track(title="a", source="s", media="m"), Track(title="b", source="s", media="m")
    await store.enqueue(1, a, limit=10)
    await store.enqueue(1, b, limit=10)
    await store.start_next(1, now=1.0)
    await store.checkpoint(1, a.id, position=1.0, paused=False, now=2.0)
    await store.advance(1, a.id, now=3.0, natural=True)
    await store.now_playing(1)
    await store.pending(1)
    await store.length(1)
    await store.set_loop(1, LoopMode.QUEUE)
    await store.get_loop(1)
    await store.chats_with_state()
    await store.shuffle(1, random.Random(1))  # the one exception: length, then the script
    await store.clear(1, include_current=True)
    assert sent == [
        *["evalsha"] * 5,
        "hmget",
        "lrange",
        "llen",
        "set",
        "get",
        "smembers",
        "llen",
        "evalsha",
        "evalsha",
    ]


async def test_keys_are_readable_per_chat(store: RedisQueueStore, raw: Redis) -> None:
    a = Track(title="Ünïcode", source="s", media="m")
    b = Track(title="b", source="s", media="m")
    await store.enqueue(-100, a, limit=10)
    await store.enqueue(-100, b, limit=10)
    await store.start_next(-100, now=1.5)
    await store.set_loop(-100, LoopMode.TRACK)
    assert await raw.lrange("sattva:q:-100:pending", 0, -1) == [b.to_json()]
    assert await raw.hgetall("sattva:q:-100:now") == {
        "id": a.id,
        "track": a.to_json(),
        "started_at": "1.5",
        "position": "0",
        "updated_at": "1.5",
        "paused": "0",
    }
    assert await raw.get("sattva:q:-100:loop") == "track"
    assert await raw.smembers("sattva:q:chats") == {"-100"}


async def test_a_full_redis_refuses_whole_operations_and_loses_nothing(
    store: RedisQueueStore, raw: Redis
) -> None:
    """Out of memory, Redis must refuse a script before its first write, or ``advance``
    could empty the slot and then fail to fill it."""
    a, b = Track(title="a", source="s", media="m"), Track(title="b", source="s", media="m")
    await store.enqueue(1, a, limit=10)
    await store.enqueue(1, b, limit=10)
    await store.start_next(1, now=1.0)
    await store.set_loop(1, LoopMode.QUEUE)
    await raw.config_set("maxmemory-policy", "noeviction")
    await raw.config_set("maxmemory", "1")
    try:
        with pytest.raises(StorageUnavailable, match="OutOfMemoryError"):
            await store.advance(1, a.id, now=2.0, natural=True)
        with pytest.raises(StorageUnavailable):
            await store.enqueue(1, Track(title="c", source="s", media="m"), limit=10)
    finally:
        await raw.config_set("maxmemory", "0")
    now = await store.now_playing(1)
    assert now is not None
    assert now.track == a
    assert await store.pending(1) == [b]
    assert (await store.advance(1, a.id, now=3.0, natural=True)).advanced


async def test_more_concurrent_calls_than_connections_wait_instead_of_failing(
    store: RedisQueueStore, raw: Redis
) -> None:
    """Hundreds of chats at once: redis-py's default pool refused the 101st concurrent call
    ("Too many connections"), which the bot reported as "storage unavailable"."""
    chats = range(-1_000_600, -1_000_000)
    tracks = {chat: Track(title=f"t{chat}", source="s", media="m") for chat in chats}
    positions = await asyncio.gather(
        *(store.enqueue(chat, tracks[chat], limit=10) for chat in chats)
    )
    assert positions == [1] * len(tracks)
    assert [await store.pending(chat) for chat in chats] == [[tracks[chat]] for chat in chats]
    clients = await raw.client_list()
    assert len(clients) <= MAX_CONNECTIONS + 1  # the store's pool and this raw client


async def test_snapshots_survive_a_server_that_lost_its_scripts(
    store: RedisQueueStore, raw: Redis
) -> None:
    """A restarted redis-server has an empty script cache: the snapshot of one chat and
    the pipelined snapshots of many load the scripts again instead of failing."""
    a, b = Track(title="a", source="s", media="m"), Track(title="b", source="s", media="m")
    await store.enqueue(1, a, limit=10)
    await store.enqueue(2, b, limit=10)
    await raw.script_flush()
    assert (await store.load_many([1]))[1].pending == [a]
    await raw.script_flush()
    many = await store.load_many([1, 2])
    assert [many[1].pending, many[2].pending] == [[a], [b]]
