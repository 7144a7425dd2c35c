"""The player rig: a real queue store (SQLite, or Redis where a test asks for it), the fake
voice engine, a manual clock and the real library playlist resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import PlayerConfig, SourcesConfig
from bot.domain.clock import ManualClock
from bot.domain.events import EventBus, Subscription
from bot.domain.manager import PlayerManager
from bot.domain.models import EndReason, Track
from bot.domain.playback import track_data
from bot.domain.ports import ChatSettings
from bot.sources.resolver import SourceResolver
from bot.storage.database import create_engine, migrate
from bot.storage.queue import QueueStore
from tests.support.audio import make_tone
from tests.support.fake_engine import FakeEngine
from tests.support.queue_backends import OpenStore, open_store

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
    return ("track_change", {**track_data(track), "reason": reason, "position": position})


def status(state: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("stream_status", {"state": state, **extra})


def queue(*titles: str, loop: str = "off", length: int | None = None) -> tuple[str, Any]:
    return (
        "queue_update",
        {"length": len(titles) if length is None else length, "titles": list(titles), "loop": loop},
    )


class HistoryLog:
    """PlayHistorySink recording rows as (chat, title, end reason or None)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, EndReason | None]] = []

    async def started(self, chat_id: int, track: Track) -> None:
        self.rows.append((chat_id, track.id, track.title, None))

    async def ended(self, chat_id: int, track: Track, reason: EndReason) -> None:
        for i in range(len(self.rows) - 1, -1, -1):
            chat, track_id, title, ended = self.rows[i]
            if chat == chat_id and track_id == track.id and ended is None:
                self.rows[i] = (chat, track_id, title, reason)
                return

    def titles(self, chat_id: int = CHAT) -> list[tuple[str, EndReason | None]]:
        return [(title, reason) for chat, _, title, reason in self.rows if chat == chat_id]


class SettingsTable:
    """ChatSettingsSource over a dict."""

    def __init__(self) -> None:
        self.chats: dict[int, ChatSettings] = {}

    async def get(self, chat_id: int) -> ChatSettings:
        return self.chats.get(chat_id, ChatSettings(chat_id))

    def set(self, chat_id: int, **changes: Any) -> None:
        self.chats[chat_id] = replace(self.chats.get(chat_id, ChatSettings(chat_id)), **changes)


@dataclass
class Rig:
    kind: str
    url: str
    library: SourceResolver
    clock: ManualClock = field(default_factory=ManualClock)
    config: PlayerConfig = field(default_factory=PlayerConfig)
    history: HistoryLog = field(default_factory=HistoryLog)
    settings: SettingsTable = field(default_factory=SettingsTable)
    bus: EventBus = field(default_factory=EventBus)
    opened: list[OpenStore] = field(default_factory=list)
    per_chat_labels: bool = False

    async def boot(self, store: QueueStore | None = None) -> PlayerManager:
        """A fresh process: a new engine and player manager on a new store connection."""
        if store is None:
            handle = await open_store(self.kind, self.url)
            self.opened.append(handle)
            store = handle.store
        self.store = store
        self.engine = FakeEngine(clock=self.clock)
        self.players = PlayerManager(
            store=store,
            engine=self.engine,
            bus=self.bus,
            history=self.history,
            settings=self.settings,
            playlists=self.library,
            config=self.config,
            clock=self.clock,
            per_chat_labels=self.per_chat_labels,
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
    """A music library with a 24/7 folder of two tracks."""
    root = tmp_path_factory.mktemp("library")
    (root / "radio").mkdir()
    make_tone(root / "radio" / "01-dawn.mp3", seconds=1.0, freq=330, title="Dawn")
    make_tone(root / "radio" / "02-dusk.mp3", seconds=1.0, freq=550, title="Dusk")
    return root


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


@pytest.fixture
async def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    url = f"sqlite+aiosqlite:///{tmp_path / 'sattva.db'}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    return url


@pytest.fixture
async def rig(store_kind: str, store_url: str, library_dir: Path) -> AsyncIterator[Rig]:
    library = SourceResolver(
        SourcesConfig(library_dir=str(library_dir), ytdlp_enabled=False), max_track_seconds=3600
    )
    rig = Rig(store_kind, store_url, library)
    await rig.boot()
    yield rig
    await rig.players.close()
    for handle in rig.opened:
        await handle.close()
