"""The config picks the queue store: Redis when storage.redis_url is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import StorageConfig
from bot.domain.queue import StorageUnavailable
from bot.storage.database import create_engine, migrate
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.factory import open_queue_store
from bot.storage.redis_queue import RedisQueueStore
from tests.support.procs import free_port


async def test_redis_url_selects_redis_else_the_database(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'f.db'}"
    engine = create_engine(url)
    try:
        await migrate(engine)
        on_db = await open_queue_store(StorageConfig(database_url=url), engine)
        assert isinstance(on_db, DatabaseQueueStore)
        await on_db.ping()
        on_redis = await open_queue_store(
            StorageConfig(database_url=url, redis_url=redis_url), engine
        )
        assert isinstance(on_redis, RedisQueueStore)
        await on_redis.ping()
        await on_redis.close()
    finally:
        await engine.dispose()


async def test_unreachable_redis_is_storage_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    config = StorageConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(StorageUnavailable, match="redis unavailable"):
            await open_queue_store(config, engine)
    finally:
        await engine.dispose()
