"""Chooses the queue store from the config: Redis when ``storage.redis_url`` is set."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import StorageConfig
from bot.domain.queue import QueueStore
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.redis_queue import RedisQueueStore


async def open_queue_store(storage: StorageConfig, engine: AsyncEngine) -> QueueStore:
    """Raises StorageUnavailable when Redis is configured but does not answer."""
    if storage.redis_url:
        return await RedisQueueStore.open(storage.redis_url)
    return DatabaseQueueStore(engine)
