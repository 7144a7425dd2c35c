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

from bot.config import Settings, SourcesConfig, StorageConfig, settings_from_mapping
from bot.domain.manager import PlayerManager
from bot.storage.admins import create_or_reset_admin
from bot.storage.channels import ChannelRepo
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.db_queue import DatabaseQueueStore
from bot.wiring import Core, build_core
from tests.support.clock import ManualClock
from tests.support.fake_engine import FakeEngine
from web.server import WebServer
from web.services import WebServices

ADMIN = "alice"
PASSWORD = "correct horse battery"
TOKEN = "monitor-token-123"


@dataclass
class Sidecar:
    server: WebServer
    services: WebServices
    players: PlayerManager
    store: DatabaseQueueStore
    engine: FakeEngine
    clock: ManualClock
    health: dict[str, bool]
    port: int
    sessionmaker: async_sessionmaker[AsyncSession]
    chat_settings: ChatSettingsRepo
    channels: ChannelRepo
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
    settings = make_settings(**web_settings)
    settings = settings.model_copy(
        update={
            # cached for longer than any test: only the panel's invalidation can make edits show
            "storage": StorageConfig(database_url=database_url, settings_cache_seconds=3600),
            "sources": SourcesConfig(ytdlp_enabled=False, cache_dir=str(tmp_path / "cache")),
        }
    )
    engine = FakeEngine(default_listeners=0)
    async with build_core(settings, engine=engine) as core:
        await create_or_reset_admin(core.sessions, ADMIN, PASSWORD)
        sidecar = await _serve(settings, core, engine, tmp_path)
        try:
            yield sidecar
        finally:
            for client in sidecar.clients:
                await client.aclose()
            await sidecar.server.stop()


async def _serve(settings: Settings, core: Core, engine: FakeEngine, tmp_path: Path) -> Sidecar:
    """The web server on the parts, with probes the test flips by hand."""
    store = core.store
    assert isinstance(store, DatabaseQueueStore)
    health = {"bot": True, "storage": True, "engine": True}

    def probe(name: str) -> Callable[[], Any]:
        async def check() -> bool:
            return health[name]

        return check

    clock = ManualClock(start=1000.0)
    services = WebServices(
        settings=settings,
        sessionmaker=core.sessions,
        bus=core.bus,
        players=core.players,
        health={name: probe(name) for name in health},
        clock=clock,
        disk_path=tmp_path,
        forget_chat_settings=core.chat_settings.forget,
        forget_channels=core.channels.forget,
    )
    server = WebServer(services, host="127.0.0.1", port=0)
    port = await server.start()
    return Sidecar(
        server,
        services,
        core.players,
        store,
        engine,
        clock,
        health,
        port,
        core.sessions,
        core.chat_settings,
        core.channels,
    )
