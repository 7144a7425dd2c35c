"""The ``backend`` fixture (every queue-store test runs on Redis, SQLite and PostgreSQL) and
the database fixtures (``database_url``, ``engine``, ``migrated``) of the other storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.queue import QueueStore
from bot.storage.database import create_engine, migrate
from tests.support.queue_backends import OpenStore, open_store


@dataclass
class Backend:
    kind: str
    url: str
    opened: list[OpenStore] = field(default_factory=list)

    async def open(self) -> QueueStore:
        """Another store on the same data, as a restarted process would see it."""
        handle = await open_store(self.kind, self.url)
        self.opened.append(handle)
        return handle.store


@pytest.fixture(params=["redis", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}"
        else:
            url = request.getfixturevalue("postgres_url")
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
    backend = Backend(kind, url)
    yield backend
    for handle in backend.opened:
        await handle.close()


@pytest.fixture
async def store(backend: Backend) -> QueueStore:
    return await backend.open()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'sattva.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on that database, not migrated (tests of the migrations start here)."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def migrated(engine: AsyncEngine) -> AsyncEngine:
    """The same engine with the schema at its newest revision."""
    await migrate(engine)
    return engine


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client on the test's redis-server, to look under a Redis store."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
