"""A live source whose ffmpeg stops (the server closed the stream: ffmpeg exits 0, exactly
like a natural end) is restarted with backoff, not taken for the end of the track."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import metrics
from bot.engines import live
from bot.engines.base import FirstFrame, PlayRequest, TrackEnded
from bot.engines.local import LocalEngine
from tests.engines.test_local import CHAT, Recorder
from tests.support.audio import make_tone
from tests.support.media_server import MediaServer


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 ms of bare mp3 frames (no ID3 or Xing header, so copies join into one stream):
    the radio endpoint sends it 40 times, so a connection lasts ~4 s."""
    codec = ("-c:a", "libmp3lame", "-b:a", "64k", "-id3v2_version", "0", "-write_xing", "0")
    return make_tone(tmp_path_factory.mktemp("live") / "blip.mp3", seconds=0.1, codec_args=codec)


async def test_live_outage_restarts_then_gives_up(short_tone: Path, monkeypatch: object) -> None:

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(live, "DELAYS", (0.2, 0.2))
    # a loaded machine may stretch a connection past the "recovered" mark: not here
    monkeypatch.setattr(live, "HEALTHY_AFTER", 3600.0)
    server = MediaServer(files={"tone.mp3": (short_tone, "audio/mpeg")})
    await server.start()
    eng = LocalEngine()
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    before = metrics.LIVE_RESTARTS._value.get()
    try:
        await eng.play(PlayRequest(CHAT, "radio", server.url("radio"), is_live=True))
        await rec.wait_for(FirstFrame)
        # each connection delivers ~4 s and closes; two restarts, then it counts as ended
        ended = await rec.wait_for(TrackEnded, timeout=120)
    finally:
        await eng.close()
        await server.close()
    assert ended == TrackEnded(CHAT, "radio")
    assert server.hits("/radio") == 3
    assert metrics.LIVE_RESTARTS._value.get() - before == 2
    assert rec.of(FirstFrame) == [FirstFrame(CHAT, "radio")]  # one first frame per track


async def test_a_file_ends_normally_and_stop_cancels_a_pending_restart(
    short_tone: Path, blip: Path
) -> None:
    server = MediaServer(files={"tone.mp3": (blip, "audio/mpeg")})
    await server.start()
    eng = LocalEngine()
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    try:
        await eng.play(PlayRequest(CHAT, "file", str(short_tone)))
        assert await rec.wait_for(TrackEnded) == TrackEnded(CHAT, "file")
        await eng.play(PlayRequest(CHAT, "radio", server.url("radio"), is_live=True))
        await rec.wait_for(FirstFrame, nth=2)
        await eng.stop(CHAT)
        await asyncio.sleep(4)  # past the stream's end and the first restart's pause
        assert server.hits("/radio") == 1
        assert rec.of(TrackEnded) == [TrackEnded(CHAT, "file")]
    finally:
        await eng.close()
        await server.close()


def test_backoff_grows_gives_up_and_resets_after_a_healthy_run() -> None:
    now = [0.0]
    backoff = live.LiveBackoff(delays=(1.0, 2.0), healthy_after=30.0, clock=lambda: now[0])
    backoff.started()
    assert [backoff.next_delay(), backoff.next_delay(), backoff.next_delay()] == [1.0, 2.0, None]
    backoff.started()
    now[0] += 31  # the restart played long enough: the next outage starts over
    assert backoff.next_delay() == 1.0
