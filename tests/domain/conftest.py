"""The player rig: a real queue store (SQLite, or Redis where a test asks for it), the fake
voice engine, a manual clock and the real library playlist resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import SourcesConfig
from bot.domain.events import NO_PLACEMENT, EventBus, Subscription, track_data
from bot.domain.manager import PlayerManager
from bot.domain.models import Track
from bot.domain.policy import PlayerPolicy
from bot.domain.ports import MediaResolver
from bot.domain.queue import QueueStore
from bot.players import make_players
from bot.sources.resolver import SourceResolver
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.orm import PlayHistory
from bot.storage.repos import HistoryRepo
from tests.support.audio import make_tone
from tests.support.clock import ManualClock
from tests.support.fake_engine import FakeEngine
from tests.support.queue_backends import OpenStore, open_store
from tests.support.video import make_video

CHAT = -1001234567890
TRACK_SECONDS = 180.0


def make_track(title: str, duration: float | None = TRACK_SECONDS, **fields: Any) -> Track:
    return Track(
        title=title,
        source=f"https://example.org/{title}",
        media=f"https://cdn.example.org/{title}.mp3",
        duration=duration,
        **fields,
    )


def change(track: Track, reason: str, position: float = 0.0) -> tuple[str, dict[str, Any]]:
    """The track_change event expected for ``track``."""
    return (
        "track_change",
        {**track_data(track), **NO_PLACEMENT, "reason": reason, "position": position},
    )


def status(state: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("stream_status", {"state": state, **extra})


def queue(*titles: str, loop: str = "off", length: int | None = None) -> tuple[str, Any]:
    return (
        "queue_update",
        {"length": len(titles) if length is None else length, "titles": list(titles), "loop": loop},
    )


@dataclass
class Rig:
    kind: str
    url: str
    library: SourceResolver
    database: AsyncEngine  # chat settings and play history (the queue may be in Redis)
    clock: ManualClock = field(default_factory=ManualClock)
    config: PlayerPolicy = field(default_factory=PlayerPolicy)
    bus: EventBus = field(default_factory=EventBus)
    opened: list[OpenStore] = field(default_factory=list)
    per_chat_labels: bool = False
    #: resolves lazy playlist entries and expired stream URLs (None: nothing resolves)
    media: MediaResolver | None = None

    def __post_init__(self) -> None:
        sessions = session_factory(self.database)
        self.settings = ChatSettingsRepo(sessions)
        self.history = HistoryRepo(
            sessions, clock=lambda: datetime.fromtimestamp(self.clock.time(), UTC)
        )

    async def configure(
        self,
        chat_id: int,
        *,
        playlist: list[str] | None = None,
        auto_end_minutes: int | None = None,
    ) -> None:
        """Chat settings as an admin sets them: a playlist turns 24/7 on."""
        if playlist is not None:
            await self.settings.set_playlist(chat_id, playlist)
            await self.settings.set_always_on(chat_id, bool(playlist))
        if auto_end_minutes is not None:
            await self.settings.set_auto_end_minutes(chat_id, auto_end_minutes)

    async def history_rows(self, chat_id: int = CHAT) -> list[tuple[str, str | None]]:
        """The chat's play history as (title, end reason), oldest first."""
        async with session_factory(self.database)() as session:
            rows = await session.scalars(
                select(PlayHistory).where(PlayHistory.chat_id == chat_id).order_by(PlayHistory.id)
            )
            return [(row.title, row.end_reason) for row in rows]

    async def boot(self, store: QueueStore | None = None) -> PlayerManager:
        """A fresh process: a new engine and player manager on a new store connection."""
        if store is None:
            handle = await open_store(self.kind, self.url)
            self.opened.append(handle)
            store = handle.store
        self.store = store
        self.engine = FakeEngine(clock=self.clock)
        self.players = make_players(
            self.config,
            store=store,
            engine=self.engine,
            bus=self.bus,
            history=self.history,
            settings=self.settings,
            playlists=self.library,
            clock=self.clock,
            per_chat_labels=self.per_chat_labels,
            media=self.media,
        )
        self.sub: Subscription = self.bus.subscribe()
        return self.players

    def events(self, chat_id: int | None = CHAT) -> list[tuple[str, Any]]:
        """Events published since the last call (of ``chat_id``; None: all, with chat)."""
        out: list[tuple[str, Any]] = []
        while (event := self.sub.get_nowait()) is not None:
            if chat_id is None:
                out.append((event.event, (event.chat_id, event.data)))
            elif event.chat_id == chat_id:
                out.append((event.event, event.data))
        return out

    async def end(self, chat_id: int = CHAT, track_id: str | None = None) -> str:
        ended = await self.engine.end(chat_id, track_id)
        await self.players.drain()
        return ended

    async def pending_titles(self, chat_id: int = CHAT) -> list[str]:
        return [t.title for t in await self.store.pending(chat_id)]

    async def playing_title(self, chat_id: int = CHAT) -> str | None:
        now = await self.store.now_playing(chat_id)
        return None if now is None else now.track.title


@pytest.fixture(scope="session")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A music library with a 24/7 folder of two tracks, and one of a clip and a song."""
    root = tmp_path_factory.mktemp("library")
    (root / "radio").mkdir()
    make_tone(root / "radio" / "01-dawn.mp3", seconds=1.0, freq=330, title="Dawn")
    make_tone(root / "radio" / "02-dusk.mp3", seconds=1.0, freq=550, title="Dusk")
    (root / "tv").mkdir()
    make_video(root / "tv" / "01-wide.mp4", seconds=1.0, size="1280x720", title="Wide")
    make_tone(root / "tv" / "02-song.mp3", seconds=1.0, freq=440, title="Song")
    return root


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sattva.db'}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


@pytest.fixture
async def store_url(store_kind: str, database_url: str, request: pytest.FixtureRequest) -> str:
    """Where the queues live: the SQLite database itself, Redis, or PostgreSQL."""
    if store_kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    if store_kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        return url
    return database_url


@pytest.fixture
async def rig(
    store_kind: str, store_url: str, database_url: str, library_dir: Path
) -> AsyncIterator[Rig]:
    library = SourceResolver(
        SourcesConfig(library_dir=str(library_dir), ytdlp_enabled=False), max_track_seconds=3600
    )
    database = create_engine(database_url)
    rig = Rig(store_kind, store_url, library, database)
    await rig.boot()
    yield rig
    await rig.players.close()
    for handle in rig.opened:
        await handle.close()
    await database.dispose()
