"""Queue-store writes carry the fencing token of the chat's assistant lease (the Redis
scripts, the PostgreSQL statements): once a newer holder exists, the old one's writes are
refused and nothing changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.cluster.leases import Lease, Leases
from bot.domain.models import LoopMode, Track
from bot.domain.queue import Checkpoint, Fenced
from bot.storage.database import create_engine, migrate
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.queue_rows import Fence
from bot.storage.redis_queue import RedisQueueStore

CHAT, OTHER = -100, -200


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def track(title: str) -> Track:
    return Track(title=title, source=f"lib:{title}", media=f"/{title}.mp3", duration=60)


class FencedStore:
    """A store of either backend with a fence; ``close`` closes what was opened."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url

    async def open(self, fence: Fence) -> RedisQueueStore | DatabaseQueueStore:
        if self.kind == "redis":
            self.store: RedisQueueStore | DatabaseQueueStore = await RedisQueueStore.open(
                self.url, fence=fence
            )
            return self.store
        self.engine = create_engine(self.url)
        await migrate(self.engine)
        self.store = DatabaseQueueStore(self.engine, fence=fence)
        return self.store

    async def close(self) -> None:
        await self.store.close()
        if self.kind != "redis":
            await self.engine.dispose()


@pytest.fixture(params=["redis", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[FencedStore]:
    url = redis_url if request.param == "redis" else request.getfixturevalue("postgres_url")
    opened = FencedStore(request.param, url)
    yield opened
    await opened.close()


async def test_stale_holder_writes_are_refused(redis: Redis, backend: FencedStore) -> None:
    old_node = Leases(redis, "n1", ttl=30)
    lease = await old_node.acquire("a1")
    assert lease is not None
    held: dict[int, Lease] = {CHAT: lease}

    def fence(chat_id: int) -> tuple[str, int] | None:
        chat_lease = held.get(chat_id)
        return None if chat_lease is None else (Leases.fence_key("a1"), chat_lease.token)

    store = await backend.open(fence)
    await store.raise_fence(Leases.fence_key("a1"), lease.token)
    assert await store.enqueue(CHAT, track("one"), limit=10) == 1
    await store.start_next(CHAT, now=1.0)
    await store.enqueue(CHAT, track("two"), limit=10)
    await store.set_loop(CHAT, LoopMode.QUEUE)

    # n1 stalls past its lease; n2 takes the account (a newer token)
    await old_node.release(lease)
    newer = await Leases(redis, "n2", ttl=30).acquire("a1")
    assert newer is not None
    assert newer.token > lease.token
    await store.raise_fence(Leases.fence_key("a1"), newer.token)

    now = await store.now_playing(CHAT)
    assert now is not None
    for write in (
        store.enqueue(CHAT, track("stale"), limit=10),
        store.enqueue_many(CHAT, [track("stale"), track("stale too")], limit=10),
        store.advance(CHAT, now.track.id, now=2.0, natural=True),
        store.checkpoint(CHAT, now.track.id, position=9.0, paused=False, now=2.0),
        store.clear(CHAT, include_current=True),
        store.set_loop(CHAT, LoopMode.OFF),
        store.remove(CHAT, 1),
        store.remove_track(CHAT, (await store.pending(CHAT))[0].id),
        store.shuffle(CHAT),
        store.start_next(CHAT, now=2.0),
        store.checkpoint_many([Checkpoint(CHAT, now.track.id, 9.0, False, 2.0)]),
    ):
        with pytest.raises(Fenced):
            await write
    # nothing changed, and the reads still answer
    assert [t.title for t in await store.pending(CHAT)] == ["two"]
    after = await store.now_playing(CHAT)
    assert after == now
    assert await store.get_loop(CHAT) is LoopMode.QUEUE
    # a chat without a fence (not leased: one process) is written as before
    assert await store.enqueue(OTHER, track("free"), limit=10) == 1

    # the new holder writes with its token
    held[CHAT] = newer
    assert await store.enqueue(CHAT, track("three"), limit=10) == 2
    assert await store.checkpoint(CHAT, now.track.id, position=5.0, paused=False, now=3.0)


def test_a_fenced_write_reads_as_one_line_in_the_chat(tmp_path: Path) -> None:
    from bot.telegram.errors import describe
    from bot.telegram.i18n import in_locale, make_i18n
    from tests.support.locales import compile_locales

    i18n = make_i18n("en", compile_locales(tmp_path / "locales"))
    with in_locale(i18n, "ru"):
        assert (
            describe(Fenced()) == "Этот чат передаётся другому процессу; попробуйте через минуту."
        )


async def test_a_fenced_batch_enqueue_queues_only_the_tracks(
    redis: Redis, backend: FencedStore
) -> None:
    """On Redis the token rides last in ARGV, on PostgreSQL after the batch's arrays: it
    must fence the batch, never be queued as a track."""
    node = Leases(redis, "n1", ttl=30)
    lease = await node.acquire("a2")
    assert lease is not None
    held: dict[int, Lease] = {CHAT: lease}

    def fence(chat_id: int) -> tuple[str, int] | None:
        chat_lease = held.get(chat_id)
        return None if chat_lease is None else (Leases.fence_key("a2"), chat_lease.token)

    store = await backend.open(fence)
    await store.raise_fence(Leases.fence_key("a2"), lease.token)
    batch = [track(f"b{i}") for i in range(3)]
    done = await store.enqueue_many(CHAT, batch, limit=10)
    assert (done.first, done.added) == (1, 3)
    assert await store.pending(CHAT) == batch
    await node.release(lease)
    newer = await Leases(redis, "n2", ttl=30).acquire("a2")
    assert newer is not None
    await store.raise_fence(Leases.fence_key("a2"), newer.token)
    with pytest.raises(Fenced):
        await store.enqueue_many(CHAT, [track("stale")], limit=10)
    assert await store.pending(CHAT) == batch
    # the new holder's batch passes, after the first one
    held[CHAT] = newer
    more = await store.enqueue_many(CHAT, [track("b3"), track("b4")], limit=10)
    assert (more.first, more.added) == (4, 2)
    assert [t.title for t in await store.pending(CHAT)] == ["b0", "b1", "b2", "b3", "b4"]
