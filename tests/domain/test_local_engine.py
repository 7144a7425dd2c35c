"""End to end with the real local engine (ffmpeg at real-time pace) on generated audio:
natural ends drive the queue, and duplicate end reports change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import SourcesConfig
from bot.domain.events import EventBus, Subscription
from bot.domain.manager import PlayerManager
from bot.domain.models import SourceKind, Track
from bot.domain.policy import PlayerPolicy
from bot.engines.base import TrackEnded
from bot.engines.local import LocalEngine
from bot.players import make_players
from bot.sources.resolver import SourceResolver
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, session_factory
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.repos import HistoryRepo
from tests.domain.conftest import CHAT


def tone_track(path: Path, title: str, duration: float = 0.5) -> Track:
    return Track(
        title=title,
        source=f"lib:{title}",
        media=str(path),
        kind=SourceKind.LIBRARY,
        duration=duration,
    )


@dataclass
class Live:
    players: PlayerManager
    engine: LocalEngine
    store: DatabaseQueueStore
    history: HistoryRepo
    sub: Subscription

    async def next_change(self) -> dict[str, object]:
        """The next track_change or the end of the stream (as {"idle": reason})."""
        async with asyncio.timeout(20):
            while True:
                event = await self.sub.get()
                if event.event == "track_change":
                    return {"title": event.data["title"], "reason": event.data["reason"]}
                if event.event == "stream_status" and event.data["state"] == "idle":
                    return {"idle": event.data["reason"]}


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[Live]:
    database = create_engine(database_url)
    sessions = session_factory(database)
    store = DatabaseQueueStore(database)
    engine = LocalEngine()
    bus = EventBus()
    history = HistoryRepo(sessions)
    players = make_players(
        PlayerPolicy(),
        store=store,
        engine=engine,
        bus=bus,
        history=history,
        settings=ChatSettingsRepo(sessions),
        playlists=SourceResolver(SourcesConfig(library_dir=str(tmp_path)), max_track_seconds=60),
    )
    await engine.start()
    yield Live(players, engine, store, history, bus.subscribe(["track_change", "stream_status"]))
    await players.close()
    await engine.close()
    await store.close()
    await database.dispose()


async def test_three_tracks_play_through_and_the_call_is_left(live: Live, short_tone: Path) -> None:
    tracks = [tone_track(short_tone, title) for title in ("One", "Two", "Three")]
    for track in tracks:
        await live.players.play(CHAT, track)

    assert [await live.next_change() for _ in range(4)] == [
        {"title": "One", "reason": "play"},
        {"title": "Two", "reason": "advance"},
        {"title": "Three", "reason": "advance"},
        {"idle": "queue_end"},
    ]
    await live.players.drain()
    assert await live.store.chats_with_state() == []
    assert live.engine.active_chats() == []
    assert live.engine.process_ids() == []
    rows = await live.history.recent(CHAT)
    assert [(r.title, r.end_reason) for r in reversed(rows)] == [
        ("One", "finished"),
        ("Two", "finished"),
        ("Three", "finished"),
    ]


async def test_duplicate_end_reports_are_harmless(live: Live, short_tone: Path, tone: Path) -> None:
    one, three = tone_track(short_tone, "One"), tone_track(short_tone, "Three")
    two = tone_track(tone, "Two", duration=2.0)  # long enough to report One's end meanwhile
    for track in (one, two, three):
        await live.players.play(CHAT, track)
    assert await live.next_change() == {"title": "One", "reason": "play"}
    assert await live.next_change() == {"title": "Two", "reason": "advance"}

    # the end of One reported again (twice), while Two plays
    await live.players.handle_event(TrackEnded(CHAT, one.id))
    await live.players.handle_event(TrackEnded(CHAT, one.id))
    await live.players.drain()
    now = await live.store.now_playing(CHAT)
    assert now is not None
    assert now.track.id == two.id
    assert [t.id for t in await live.store.pending(CHAT)] == [three.id]

    assert await live.next_change() == {"title": "Three", "reason": "advance"}
    assert await live.next_change() == {"idle": "queue_end"}
    rows = await live.history.recent(CHAT)
    assert [r.end_reason for r in rows] == ["finished", "finished", "finished"]
