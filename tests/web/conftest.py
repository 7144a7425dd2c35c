"""A real uvicorn sidecar on 127.0.0.1 (port 0), per test, over the real parts: a migrated
SQLite file, the database queue store, the PlayerManager driving the fake voice engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import PlayerConfig, Settings, SourcesConfig, settings_from_mapping
from bot.domain.events import EventBus
from bot.domain.manager import PlayerManager
from bot.sources.resolver import SourceResolver
from bot.storage.admins import create_or_reset_admin
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.repos import ChatSettingsRepo, HistoryRepo
from tests.support.fake_engine import FakeEngine
from web.server import WebServer
from web.services import WebServices

ADMIN = "alice"
PASSWORD = "correct horse battery"
TOKEN = "monitor-token-123"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sidecar:
    server: WebServer
    services: WebServices
    players: PlayerManager
    store: DatabaseQueueStore
    engine: FakeEngine
    clock: FakeClock
    health: dict[str, bool]
    port: int
    sessionmaker: async_sessionmaker[AsyncSession]
    chat_settings: ChatSettingsRepo
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> dict[str, str]:
        return {"Origin": self.base}

    def client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base, follow_redirects=False, timeout=10)
        self.clients.append(client)
        return client

    async def login(self, client: httpx.AsyncClient | None = None) -> httpx.AsyncClient:
        client = client or self.client()
        r = await client.post(
            "/admin/login", data={"username": ADMIN, "password": PASSWORD}, headers=self.origin
        )
        assert r.status_code == 302, r.text
        assert r.headers["location"] == f"{self.base}/admin/"
        return client


def make_settings(**web: Any) -> Settings:
    return settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:" + "A" * 35},
            "engine": {"kind": "local"},
            "web": {
                "secret_key": "x" * 40,
                "monitoring_token": TOKEN,
                "metrics_interval_seconds": 0.2,
                **web,
            },
        }
    )


@pytest.fixture
def web_settings() -> dict[str, Any]:
    """Overrides of [web] keys; a test changes it before asking for ``sidecar``."""
    return {}


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite by default; ``indirect`` parametrisation with "postgres" uses a fresh
    PostgreSQL database (the ``postgres`` marker)."""
    if getattr(request, "param", "sqlite") == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"


BOTH_DATABASES = pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
async def sidecar(
    database_url: str, tmp_path: Path, web_settings: dict[str, Any]
) -> AsyncIterator[Sidecar]:
    db = create_engine(database_url)
    await migrate(db)
    sessionmaker = session_factory(db)
    await create_or_reset_admin(sessionmaker, ADMIN, PASSWORD)
    bus = EventBus()
    store = DatabaseQueueStore(db)
    engine = FakeEngine(default_listeners=0)
    await engine.start()
    # cached for longer than any test: only the panel's invalidation can make edits show
    chat_settings = ChatSettingsRepo(sessionmaker, cache_seconds=3600)
    players = PlayerManager(
        store=store,
        engine=engine,
        bus=bus,
        history=HistoryRepo(sessionmaker),
        settings=chat_settings,
        playlists=SourceResolver(SourcesConfig(ytdlp_enabled=False), max_track_seconds=3600),
        config=PlayerConfig(),
    )
    health = {"bot": True, "storage": True, "engine": True}

    def probe(name: str) -> Callable[[], Any]:
        async def check() -> bool:
            return health[name]

        return check

    clock = FakeClock()
    services = WebServices(
        settings=make_settings(**web_settings),
        sessionmaker=sessionmaker,
        bus=bus,
        players=players,
        store=store,
        health={name: probe(name) for name in health},
        clock=clock,
        disk_path=tmp_path,
        forget_chat_settings=chat_settings.forget,
    )
    server = WebServer(services, host="127.0.0.1", port=0)
    port = await server.start()
    sidecar = Sidecar(
        server, services, players, store, engine, clock, health, port, sessionmaker, chat_settings
    )
    try:
        yield sidecar
    finally:
        for client in sidecar.clients:
            await client.aclose()
        await server.stop()
        await players.close()
        await store.close()
        await db.dispose()
