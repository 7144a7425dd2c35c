"""Opening a queue store by backend name and URL, in the test process or in a child."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.queue import QueueStore
from bot.metrics import REGISTRY
from bot.storage.database import create_engine
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.redis_queue import RedisQueueStore

BACKENDS = ("redis", "sqlite", "postgres")


def operations(op: str) -> float:
    """How many ``op`` calls the queue stores of this process have made, as scraped."""
    return REGISTRY.get_sample_value("sattva_queue_operations_total", {"op": op}) or 0.0


@dataclass
class OpenStore:
    store: QueueStore
    close: Callable[[], Awaitable[None]]


async def open_store(kind: str, url: str) -> OpenStore:
    """A store on an already migrated database (or on Redis) and how to close it."""
    if kind == "redis":
        redis_store = await RedisQueueStore.open(url)
        return OpenStore(redis_store, redis_store.close)
    engine = create_engine(url)
    db_store = DatabaseQueueStore(engine)

    async def close() -> None:
        await db_store.close()
        await engine.dispose()

    return OpenStore(db_store, close)
