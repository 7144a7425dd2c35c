"""The RTMP engine against a real RTMP server on a loopback port: picture and sound arrive,
two tracks back to back come through ONE connection, and the key never leaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.video import fit
from bot.engines.base import FirstFrame, PlayRequest, TrackEnded, TrackFailed
from bot.engines.rtmp import NoRtmpTarget, RtmpEngine, RtmpTarget
from tests.engines.test_local import CHAT, Recorder
from tests.support.rtmp_server import RtmpServer

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


async def test_two_tracks_in_one_connection(server: RtmpServer, videos: dict[str, Path]) -> None:
    eng = engine_for(server)
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    try:
        spec = fit("360p", 640, 360, 25.0)
        await eng.play(PlayRequest(CHAT, "v1", str(videos["landscape"]), video=spec))
        (pid,) = eng.encoder_pids()
        playing = eng.process_ids()
        assert pid in playing
        assert len(playing) == 2  # the encoder and this track's decoder
        await rec.wait_for(TrackEnded, timeout=15)
        # the next track (an audio one: it shows its waveform) on the same encoder
        await eng.play(PlayRequest(CHAT, "a2", str(videos["cover"])))
        await rec.wait_for(TrackEnded, timeout=15, nth=2)
        assert eng.encoder_pids() == [pid]
        await eng.stop(CHAT)
        assert await server.finished() == 0
    finally:
        await eng.close()
    assert eng.process_ids() == []
    assert rec.of(TrackFailed) == []
    assert [e.track_id for e in rec.of(TrackEnded)] == ["v1", "a2"]
    assert [e.track_id for e in rec.of(FirstFrame)] == ["v1", "a2"]
    got = server.streams()
    assert got["kinds"] == ["audio", "video"]
    assert got["codecs"] == ["aac", "h264"]
    # both 2-second tracks arrived through the one connection the server accepts
    assert 3.5 <= float(got["duration"]) <= 6  # type: ignore[arg-type]


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
