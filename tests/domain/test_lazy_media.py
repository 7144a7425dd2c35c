"""Stream addresses resolved when a track is about to play: playlist entries queued from a
listing (no address yet), and site stream URLs that expired while queued or while the bot
was down.  The resolver is the real one, against the loopback media server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import SourcesConfig
from bot.domain.models import MediaKind, SourceKind, Track
from bot.sources.resolver import SourceResolver
from tests.domain.conftest import CHAT, Rig, status
from tests.support.media_server import MediaServer


@pytest.fixture
async def media(tone: Path, tmp_path: Path) -> AsyncIterator[MediaServer]:
    notes = tmp_path / "notes.txt"
    notes.write_text("no audio here\n" * 50)
    server = MediaServer(
        files={"tone.mp3": (tone, "audio/mpeg"), "notes.txt": (notes, "text/plain")}
    )
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def lazy(rig: Rig) -> Rig:
    """The rig's players with the real resolver behind them."""
    await rig.players.close()
    rig.media = SourceResolver(
        SourcesConfig(allow_private_networks=True, ytdlp_enabled=False, probe_timeout_seconds=5),
        max_track_seconds=3600,
    )
    await rig.boot()
    return rig


def entry(title: str, source: str, **fields: object) -> Track:
    """A playlist entry as the listing queues it: no stream address yet."""
    return Track(title=title, source=source, media="", kind=SourceKind.YTDLP, **fields)  # type: ignore[arg-type]


async def wait_preloaded(rig: Rig, timeout: float = 10.0) -> None:
    """Waits for the background prefetch to hand the engine the next track."""
    deadline = asyncio.get_running_loop().time() + timeout
    while rig.engine.preloaded.get(CHAT) is None:
        assert asyncio.get_running_loop().time() < deadline, "nothing preloaded"
        await asyncio.sleep(0.02)


async def test_entries_are_resolved_when_they_start_and_prefetched_before(
    lazy: Rig, media: MediaServer
) -> None:
    tone = media.url("files/tone.mp3")
    batch = [entry("One", tone, duration=2.0), entry("Two", media.url("redirect/2"))]
    outcome = await lazy.players.play_many(CHAT, batch)
    assert (outcome.added, outcome.position) == (2, 1)
    assert outcome.started is not None
    assert outcome.started.id == batch[0].id
    playing = lazy.engine.streams[CHAT]
    assert (playing.track_id, playing.media) == (batch[0].id, tone)
    # the store keeps what was queued: after a restart the address is resolved again
    slot = await lazy.store.now_playing(CHAT)
    assert slot is not None
    assert slot.track == batch[0]
    # the next entry is resolved in the background and handed to the engine to preload
    await wait_preloaded(lazy)
    upcoming = lazy.engine.preloaded[CHAT]
    assert upcoming is not None
    assert (upcoming.track_id, upcoming.media) == (batch[1].id, tone)  # redirect followed
    hits = media.hits("/redirect")
    await lazy.end()
    # it starts with the prefetched address: no second lookup
    assert lazy.engine.streams[CHAT].media == tone
    assert lazy.engine.streams[CHAT].track_id == batch[1].id
    assert media.hits("/redirect") == hits


async def test_an_entry_that_cannot_be_resolved_is_skipped_with_its_title(
    lazy: Rig, media: MediaServer
) -> None:
    bad = entry("Not Music", media.url("files/notes.txt"))
    good = entry("Music", media.url("files/tone.mp3"))
    outcome = await lazy.players.play_many(CHAT, [bad, good])
    assert outcome.started is not None
    assert outcome.started.id == good.id
    errors = [e for e in lazy.events() if e[0] == "stream_status" and e[1]["state"] == "error"]
    assert len(errors) == 1
    assert (errors[0][1]["track_id"], errors[0][1]["title"]) == (bad.id, "Not Music")
    assert "not_audio" in errors[0][1]["error"]
    assert lazy.engine.streams[CHAT].track_id == good.id


async def test_without_a_resolver_an_unresolved_entry_fails_cleanly(rig: Rig) -> None:
    lone = entry("Lone", "https://example.org/lone")
    outcome = await rig.players.play_many(CHAT, [lone])
    assert (outcome.added, outcome.started) == (1, None)
    assert status("idle", reason="queue_end") in rig.events()
    assert await rig.store.chats_with_state() == []


async def test_an_expired_stream_url_is_resolved_again_before_it_plays(
    lazy: Rig, media: MediaServer
) -> None:
    tone = media.url("files/tone.mp3")
    now = lazy.clock.time()
    stale = Track(
        title="Old",
        source=tone,
        media=media.url("files/expired.mp3"),  # the site's address from hours ago: 404 now
        kind=SourceKind.YTDLP,
        duration=2.0,
        expires_at=now - 1,
    )
    # expiring before it could play through counts as expired too
    short = Track(
        title="Short", source=tone, media=stale.media, kind=SourceKind.YTDLP, duration=600.0,
        expires_at=now + 300,
    )  # fmt: skip
    good = Track(
        title="Good", source=media.url("files/notes.txt"), media=tone, kind=SourceKind.YTDLP,
        duration=2.0, expires_at=now + 6 * 3600,
    )  # fmt: skip
    await lazy.players.play(CHAT, stale)
    assert lazy.engine.streams[CHAT].media == tone
    await lazy.players.play(CHAT, short)
    await lazy.players.play(CHAT, good)
    await lazy.end()
    assert lazy.engine.streams[CHAT].media == tone
    await lazy.end()
    # a valid address is used as it is: its source (a text file) is never fetched
    assert lazy.engine.streams[CHAT].media == tone
    assert media.hits("/files/notes.txt") == 0


async def test_an_address_that_expired_while_the_bot_was_down_is_resolved_at_recovery(
    lazy: Rig, media: MediaServer
) -> None:
    tone = media.url("files/tone.mp3")
    track = Track(  # a length the site did not tell: it plays until it ends
        title="Long", source=tone, media=media.url("files/signed.mp3"), kind=SourceKind.YTDLP,
        expires_at=lazy.clock.time() + 3600,
    )  # fmt: skip
    await lazy.players.play(CHAT, track)
    assert lazy.engine.streams[CHAT].media == track.media  # still good when it started
    # the process dies; it comes back two hours later, the track still in the slot
    await lazy.clock.advance(2 * 3600)
    await lazy.boot()
    assert await lazy.players.recover() == 1
    assert lazy.engine.streams[CHAT].media == tone
    assert lazy.engine.streams[CHAT].track_id == track.id


async def test_an_entry_queued_by_vplay_plays_as_video_in_its_quality(
    lazy: Rig, media: MediaServer, videos: dict[str, Path]
) -> None:
    """A /vplay playlist link's entry keeps its media kind and quality through its
    resolving: the engine is asked for the picture, fitted into the entry's quality."""
    media.files["tall.mp4"] = (videos["portrait"], "video/mp4")
    film = entry("Tall", media.url("files/tall.mp4"), media_kind=MediaKind.VIDEO, quality="360p")
    outcome = await lazy.players.play_many(CHAT, [film])
    assert outcome.started is not None
    assert outcome.started.id == film.id
    playing = lazy.engine.streams[CHAT]
    assert playing.media == media.url("files/tall.mp4")
    assert playing.video is not None
    assert (playing.video.width, playing.video.height) == (360, 640)  # as the source stands
    slot = await lazy.store.now_playing(CHAT)
    assert slot is not None
    assert slot.track == film  # the store keeps the entry as queued
