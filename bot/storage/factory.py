"""Chooses the queue store from the config (Redis when ``storage.redis_url`` is set), and
the one probe that says whether storage answers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import StorageConfig
from bot.domain.health import HealthProbe
from bot.domain.queue import QueueStore
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.queue_rows import Fence
from bot.storage.redis_queue import RedisQueueStore


async def open_queue_store(
    storage: StorageConfig, engine: AsyncEngine, *, fence: Fence | None = None
) -> QueueStore:
    """Raises StorageUnavailable when Redis is configured but does not answer.  ``fence``:
    the chats' write tokens in cluster mode (``bot.cluster.node``)."""
    if storage.redis_url and storage.queue_store == "auto":
        return await RedisQueueStore.open(storage.redis_url, fence=fence)
    return DatabaseQueueStore(engine, fence=fence)


def storage_probe(store: QueueStore, sessions: async_sessionmaker[AsyncSession]) -> HealthProbe:
    """Up when both the queue store and the relational database answer: with Redis
    queues the two can fail apart, and either one down means commands fail."""

    async def storage() -> bool:
        await store.ping()
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
        return True

    return storage
