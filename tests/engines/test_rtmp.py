"""The RTMP engine against a real RTMP server on a loopback port: picture and sound arrive,
tracks back to back (whole or cut short) come through ONE connection on one clock, and
the key never leaks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.video import fit
from bot.engines.base import FirstFrame, PlayRequest, TrackEnded, TrackFailed
from bot.engines.rtmp import NoRtmpTarget, RtmpEngine, RtmpTarget
from bot.metrics import REGISTRY
from tests.engines.test_local import CHAT, Recorder
from tests.support.rtmp_server import RtmpServer
from tests.support.video import make_video

KEY = "s3cr3t-key-123"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RtmpServer]:
    srv = RtmpServer(tmp_path / "got.flv")
    await srv.start(KEY)
    yield srv
    await srv.close()


def engine_for(server: RtmpServer, key: str = KEY) -> RtmpEngine:
    async def targets(chat_id: int) -> RtmpTarget | None:
        return RtmpTarget(server.url, key) if chat_id == CHAT else None

    return RtmpEngine(targets=targets, quality="360p")


@contextlib.asynccontextmanager
async def running(server: RtmpServer) -> AsyncIterator[tuple[RtmpEngine, Recorder]]:
    """A started engine pushing to ``server`` and what it reports; closed on the way out."""
    eng = engine_for(server)
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    try:
        yield eng, rec
    finally:
        await eng.close()


async def test_two_tracks_in_one_connection(server: RtmpServer, videos: dict[str, Path]) -> None:
    async with running(server) as (eng, rec):
        spec = fit("360p", 640, 360, 25.0)
        await eng.play(PlayRequest(CHAT, "v1", str(videos["landscape"]), video=spec))
        (pid,) = eng.relay_pids()
        playing = eng.process_ids()
        assert pid in playing
        assert len(playing) == 2  # the relay and this track's ffmpeg
        await rec.wait_for(TrackEnded, timeout=15)
        # the next track (an audio one: a black picture) through the same relay
        await eng.play(PlayRequest(CHAT, "a2", str(videos["cover"])))
        await rec.wait_for(TrackEnded, timeout=15, nth=2)
        assert eng.relay_pids() == [pid]
        await eng.stop(CHAT)
        assert await server.finished() == 0
    assert eng.process_ids() == []
    assert rec.of(TrackFailed) == []
    assert [e.track_id for e in rec.of(TrackEnded)] == ["v1", "a2"]
    assert [e.track_id for e in rec.of(FirstFrame)] == ["v1", "a2"]
    got = server.streams()
    assert got["kinds"] == ["audio", "video"]
    assert got["codecs"] == ["aac", "h264"]
    # both 2-second tracks arrived through the one connection the server accepts
    assert 3.5 <= float(got["duration"]) <= 6  # type: ignore[arg-type]
    assert_one_clock(server)


async def test_no_target_is_a_clear_error(server: RtmpServer, videos: dict[str, Path]) -> None:
    eng = engine_for(server)
    await eng.start()
    try:
        with pytest.raises(NoRtmpTarget):
            await eng.play(PlayRequest(CHAT - 1, "x", str(videos["landscape"])))
    finally:
        await eng.close()
    assert await eng.listeners(CHAT) is None


async def test_refused_connection_redacts_the_key(
    tmp_path: Path, videos: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    dead = RtmpServer(tmp_path / "never.flv", port=1)  # nothing listens there
    eng = engine_for(dead)
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    try:
        await eng.play(PlayRequest(CHAT, "x", str(videos["landscape"])))
        await asyncio.sleep(1.5)
    finally:
        await eng.close()
    assert KEY not in caplog.text


def assert_one_clock(server: RtmpServer) -> None:
    """Every track's picture and sound follow the last's on one clock: never backwards,
    never a hole (the relay copies each track's timestamps as they are)."""
    for kind, most in (("video", 0.2), ("audio", 0.1)):
        times = server.timestamps(kind)
        assert times, kind
        steps = [b - a for a, b in itertools.pairwise(times)]
        assert min(steps) >= 0, kind
        assert max(steps) <= most, (kind, max(steps))


async def test_a_track_cut_short_hands_over_on_the_same_clock(
    server: RtmpServer, tmp_path: Path, videos: dict[str, Path]
) -> None:
    """Skip, pause and resume end a track's ffmpeg early: what it sent stays whole and the
    next run (the same track resumed, or the next) continues the clock."""
    long = make_video(tmp_path / "long.mp4", seconds=6.0)
    async with running(server) as (eng, rec):
        spec = fit("360p", 640, 360, 25.0)
        await eng.play(PlayRequest(CHAT, "long", str(long), video=spec))
        await rec.wait_for(FirstFrame)
        await asyncio.sleep(1.0)
        await eng.pause(CHAT)
        paused = await eng.position(CHAT)
        assert paused is not None
        assert 0.5 <= paused <= 2.5
        assert eng.process_ids() == eng.relay_pids()  # the relay stays, alone
        await asyncio.sleep(0.5)
        assert await eng.position(CHAT) == paused
        await eng.resume(CHAT)
        await asyncio.sleep(1.0)
        # skipped: the next track (a silent video) takes over mid-way
        await eng.play(
            PlayRequest(CHAT, "mute", str(videos["silent"]), video=spec, has_audio=False)
        )
        await rec.wait_for(TrackEnded, timeout=15)
        await eng.stop(CHAT)
        assert await server.finished() == 0
    assert [e.track_id for e in rec.of(TrackEnded)] == ["mute"]
    assert rec.of(TrackFailed) == []
    got = server.streams()
    assert got["kinds"] == ["audio", "video"]
    # about 2 s of the long track, then the whole 2 s silent one; no pause in the clock
    assert 3.0 <= float(got["duration"]) <= 5.5  # type: ignore[arg-type]
    assert_one_clock(server)
    assert server.decode_errors() == ""  # each cut ended on a whole picture


async def test_a_dropped_connection_is_made_again_and_the_track_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server goes away mid-track: the relay dies, the engine connects again (with
    backoff) and resumes the same track where it was, not as a failed track."""
    long = make_video(tmp_path / "long.mp4", seconds=5.0)
    first = RtmpServer(tmp_path / "first.flv")
    await first.start(KEY)
    second = RtmpServer(tmp_path / "second.flv")
    reconnects = REGISTRY.get_sample_value("sattva_rtmp_reconnects_total") or 0.0
    try:
        async with running(first) as (eng, rec):
            spec = fit("360p", 640, 360, 25.0)
            await eng.play(PlayRequest(CHAT, "long", str(long), video=spec))
            await rec.wait_for(FirstFrame)
            await asyncio.sleep(1.0)
            (relay,) = eng.relay_pids()
            await first.close()  # the server drops us
            await second.start(KEY, port=first.port)  # and is back at the same address
            await rec.wait_for(TrackEnded, timeout=20)
            assert eng.relay_pids() not in ([], [relay])
            await eng.stop(CHAT)
            assert await second.finished() == 0
        assert [e.track_id for e in rec.of(TrackEnded)] == ["long"]
        assert rec.of(TrackFailed) == []
        assert REGISTRY.get_sample_value("sattva_rtmp_reconnects_total") == reconnects + 1
        got = second.streams()
        assert got["kinds"] == ["audio", "video"]
        # the rest of the track, from about where the first connection lost it
        assert 1.5 <= float(got["duration"]) <= 4.5  # type: ignore[arg-type]
        assert_one_clock(second)
        assert KEY not in caplog.text
    finally:
        await second.close()
