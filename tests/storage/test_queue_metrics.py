"""Every store times its operations and counts the failed ones the same way, so the
dashboards and the "queue store errors" alert read one family whatever the backend."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.domain.models import Track
from bot.metrics import REGISTRY
from bot.storage.queue import QueueFull, QueueStore, StorageUnavailable
from bot.storage.redis_queue import RedisQueueStore


def sample(name: str, op: str) -> float:
    return REGISTRY.get_sample_value(name, {"op": op}) or 0.0


def track(title: str) -> Track:
    return Track(title=title, source="s", media="m")


async def test_operations_are_timed_and_answers_are_not_errors(store: QueueStore) -> None:
    timed = sample("sattva_queue_store_seconds_count", "enqueue")
    failed = sample("sattva_queue_store_errors_total", "enqueue")
    await store.enqueue(-5, track("a"), limit=1)
    with pytest.raises(QueueFull):
        await store.enqueue(-5, track("b"), limit=1)
    assert sample("sattva_queue_store_seconds_count", "enqueue") == timed + 2
    assert sample("sattva_queue_store_errors_total", "enqueue") == failed


async def test_a_store_that_refuses_counts_an_error(redis_url: str) -> None:
    store = await RedisQueueStore.open(redis_url)
    raw = Redis.from_url(redis_url)
    failed = sample("sattva_queue_store_errors_total", "enqueue")
    await raw.config_set("maxmemory-policy", "noeviction")
    await raw.config_set("maxmemory", "1")
    try:
        with pytest.raises(StorageUnavailable):
            await store.enqueue(-6, track("c"), limit=10)
    finally:
        await raw.config_set("maxmemory", "0")
        await raw.aclose()
        await store.close()
    assert sample("sattva_queue_store_errors_total", "enqueue") == failed + 1
