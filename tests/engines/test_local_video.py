"""The local engine decodes video tracks for real: frames at the fitted size and real-time
pace, a first-picture event, and a silent video ends with its picture."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot import metrics
from bot.domain.video import fit
from bot.engines.base import FirstFrame, PlayRequest, TrackEnded, TrackFailed
from bot.engines.local import LocalEngine
from tests.engines.test_local import CHAT, Recorder, alive


async def _engine() -> tuple[LocalEngine, Recorder]:
    eng = LocalEngine()
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    return eng, rec


async def test_video_track_decodes_frames_in_real_time(videos: dict[str, Path]) -> None:
    eng, rec = await _engine()
    spec = fit("360p", 640, 360, 25.0)
    before = metrics.VIDEO_FRAMES._value.get()
    try:
        started = time.monotonic()
        await eng.play(PlayRequest(CHAT, "v", str(videos["landscape"]), video=spec))
        await rec.wait_for(TrackEnded)
        elapsed = time.monotonic() - started
        frames = metrics.VIDEO_FRAMES._value.get() - before
    finally:
        await eng.close()
    firsts = rec.of(FirstFrame)
    assert sorted(f.media for f in firsts) == ["audio", "video"]
    assert rec.events[-1] == TrackEnded(CHAT, "v")
    assert 48 <= frames <= 52  # 2 s at 25 fps, each a whole 640x360 yuv420p frame
    assert elapsed >= 1.7  # real-time pace, not as fast as the decoder can go


async def test_portrait_scaled_into_the_box(videos: dict[str, Path]) -> None:
    eng, rec = await _engine()
    spec = fit("360p", 360, 640, 25.0)
    assert (spec.width, spec.height) == (360, 640)
    small = fit("360p", 720, 1280, 25.0)  # a bigger portrait source shrinks to the box
    assert (small.width, small.height) == (360, 640)
    try:
        await eng.play(
            PlayRequest(CHAT, "p", str(videos["portrait"]), video=fit("360p", 180, 320, 10))
        )
        await rec.wait_for(FirstFrame, nth=2)
        await asyncio.sleep(0.5)
        counted = eng.frames(CHAT)
    finally:
        await eng.close()
    # 180x320 at 10 fps: a frame count in step with the clock proves the scaled size
    assert 3 <= counted <= 12


async def test_silent_video_ends_with_its_picture(videos: dict[str, Path]) -> None:
    eng, rec = await _engine()
    spec = fit("360p", 640, 360, 25.0)
    try:
        await eng.play(PlayRequest(CHAT, "s", str(videos["silent"]), video=spec, has_audio=False))
        await rec.wait_for(FirstFrame)
        await asyncio.sleep(0.6)
        position = await eng.position(CHAT)
        (pid,) = eng.process_ids()
        await rec.wait_for(TrackEnded)
    finally:
        await eng.close()
    assert position is not None
    assert 0.4 < position < 1.5
    assert rec.of(FirstFrame) == [FirstFrame(CHAT, "s", media="video")]
    assert rec.of(TrackFailed) == []
    assert not alive(pid)


async def test_pause_and_stop_kill_the_video_decoder(videos: dict[str, Path]) -> None:
    eng, rec = await _engine()
    spec = fit("360p", 640, 360, 25.0)
    try:
        await eng.play(PlayRequest(CHAT, "v", str(videos["landscape"]), video=spec))
        await rec.wait_for(FirstFrame, nth=2)
        (pid,) = eng.process_ids()
        await eng.pause(CHAT)
        assert not alive(pid)
        await eng.resume(CHAT)
        await eng.stop(CHAT)
        assert eng.process_ids() == []
    finally:
        await eng.close()
    assert rec.of(TrackEnded) == []
