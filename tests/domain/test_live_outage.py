"""A live source whose decoder stops (the server closed the stream: ffmpeg exits 0, exactly
like a natural end) is re-resolved and restarted with backoff, not taken for the end of the
track; after the last restart in a row fails it ends as reported.  Real local engine, real
ffmpeg, a real HTTP "radio" that closes each connection after ~2 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot import metrics
from bot.config import SourcesConfig
from bot.domain import live as live_module
from bot.domain.events import EventBus, Subscription
from bot.domain.manager import PlayerManager
from bot.domain.models import SourceKind, Track
from bot.domain.policy import PlayerPolicy
from bot.engines.local import LocalEngine
from bot.players import make_players
from bot.sources.resolver import SourceResolver
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, session_factory
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.repos import HistoryRepo
from tests.domain.conftest import CHAT
from tests.support.audio import make_tone
from tests.support.media_server import MediaServer


@dataclass
class CountingRefresher:
    """Re-resolves nothing (the radio's URL does not expire) but counts the asks."""

    asked: list[str] = field(default_factory=list)

    async def refresh(self, track: Track) -> Track:
        self.asked.append(track.id)
        return track


@dataclass
class Rig:
    players: PlayerManager
    engine: LocalEngine
    refresher: CountingRefresher
    server: MediaServer
    sub: Subscription

    async def states(self, until: str, timeout: float = 90) -> list[str]:
        """stream_status states (and track_change as "track") up to ``until``."""
        seen: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.sub.get()
                name = "track" if event.event == "track_change" else event.data["state"]
                seen.append(name)
                if name == until:
                    return seen


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 ms of bare mp3 frames (no ID3 or Xing header, so copies join into one stream):
    the radio endpoint sends it 40 times, 50 ms apart, so a connection lasts ~2 s."""
    codec = ("-c:a", "libmp3lame", "-b:a", "64k", "-id3v2_version", "0", "-write_xing", "0")
    return make_tone(tmp_path_factory.mktemp("live") / "blip.mp3", seconds=0.05, codec_args=codec)


@pytest.fixture
async def rig(database_url: str, tmp_path: Path, blip: Path) -> AsyncIterator[Rig]:
    database = create_engine(database_url)
    sessions = session_factory(database)
    store = DatabaseQueueStore(database)
    engine = LocalEngine()
    server = MediaServer(files={"tone.mp3": (blip, "audio/mpeg")})
    await server.start()
    bus = EventBus()
    refresher = CountingRefresher()
    players = make_players(
        PlayerPolicy(),
        store=store,
        engine=engine,
        bus=bus,
        history=HistoryRepo(sessions),
        settings=ChatSettingsRepo(sessions),
        playlists=SourceResolver(SourcesConfig(library_dir=str(tmp_path)), max_track_seconds=60),
        refresher=refresher,
    )
    await engine.start()
    sub = bus.subscribe(["track_change", "stream_status"])
    yield Rig(players, engine, refresher, server, sub)
    await players.close()
    await engine.close()
    await server.close()
    await store.close()
    await database.dispose()


def radio(rig: Rig) -> Track:
    url = rig.server.url("radio")
    return Track(title="Test FM", source=url, media=url, kind=SourceKind.URL, is_live=True)


async def test_outage_restarts_then_gives_up(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "DELAYS", (0.2, 0.2))
    # a loaded machine may stretch a connection past the "recovered" mark: not here
    monkeypatch.setattr(live_module, "HEALTHY_AFTER", 3600.0)
    before = metrics.LIVE_RESTARTS._value.get()
    track = radio(rig)
    await rig.players.play(CHAT, track)
    states = await rig.states(until="idle")
    # one announcement; each of the 2 outages restarts it silently; the 3rd ends it
    outage = ["reconnecting", "playing"]
    assert states == ["track", "playing", *outage, *outage, "idle"]
    assert rig.server.hits("/radio") == 3
    assert rig.refresher.asked == [track.id, track.id]
    assert metrics.LIVE_RESTARTS._value.get() - before == 2


async def test_stop_during_the_pause_cancels_the_restart(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "DELAYS", (1.5,))
    await rig.players.play(CHAT, radio(rig))
    assert await rig.states(until="reconnecting") == ["track", "playing", "reconnecting"]
    await rig.players.stop(CHAT)
    await asyncio.sleep(2.5)  # past the pause: nothing may start again
    assert rig.server.hits("/radio") == 1
    assert rig.refresher.asked == []
    assert rig.engine.active_chats() == []


def test_backoff_grows_gives_up_and_resets_after_a_healthy_run() -> None:
    backoff = live_module.LiveBackoff(delays=(1.0, 2.0), healthy_after=30.0)
    backoff.started("a", 0.0)
    assert [backoff.next_delay("a", 1.0), backoff.next_delay("a", 2.0)] == [1.0, 2.0]
    assert backoff.next_delay("a", 3.0) is None
    backoff.started("a", 10.0)
    assert backoff.next_delay("a", 41.0) == 1.0  # it played 31 s: the next outage starts over
    assert backoff.next_delay("b", 42.0) == 1.0  # another track starts over too
