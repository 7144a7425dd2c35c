"""/speed in the engines: the ffmpeg arguments each one builds, run on real ffmpeg over
generated media, and positions counted in track time."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain.video import fit
from bot.engines.base import MediaError, PlayRequest, TrackEnded
from bot.engines.decode import (
    AUDIO_BYTES_PER_SECOND,
    DecodeJob,
    decode_args,
    speed_text,
)
from bot.engines.local import LocalEngine
from bot.engines.rtmp_args import track_args
from bot.engines.tgcalls import PyTgCallsEngine
from bot.engines.tgcalls_params import ffmpeg_parameters
from bot.engines.tgcalls_streams import build_stream
from bot.ffmpeg import ffmpeg_input
from tests.engines.test_local import Recorder
from tests.engines.test_tgcalls import CHAT, FakeCalls, FakeClient
from tests.support.audio import make_tone


def output_seconds(args: list[str]) -> float:
    """Seconds of s16le 48 kHz stereo ffmpeg writes to stdout for ``args``."""
    out = subprocess.run(args, capture_output=True, check=True, timeout=60).stdout
    return len(out) / AUDIO_BYTES_PER_SECOND


def frames_out(args: list[str], frame_bytes: int) -> float:
    out = subprocess.run(args, capture_output=True, check=True, timeout=60).stdout
    return len(out) / frame_bytes


@pytest.fixture(scope="module")
def four_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone(tmp_path_factory.mktemp("speed") / "four.mp3", seconds=4.0, title="Four")


# -- the filter text is guarded like media strings ------------------------------------------


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -1.0, 0.0, 0.3, 0.49, 2.01, 3.0, 1e300]
)
def test_speed_text_refuses_what_is_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        speed_text(bad)


def test_speed_text_is_a_plain_decimal() -> None:
    assert [speed_text(s) for s in (0.5, 0.75, 1.0, 1.25, 2.0)] == ["0.5", "0.75", "1", "1.25", "2"]


def test_normal_speed_leaves_the_commands_as_they_were(four_seconds: Path) -> None:
    job = DecodeJob(ffmpeg_input(str(four_seconds)), position=1.0, volume=80)
    args = decode_args("ffmpeg", job)
    assert args[args.index("-af") + 1] == "volume=0.80"
    assert "-re" in args
    assert "-readrate" not in args
    assert not any("atempo" in a or "setpts" in a for a in args)


# -- the local engine's / RTMP engine's own command lines, run -----------------------------


@pytest.mark.parametrize("speed", [0.5, 1.5, 2.0])
def test_decode_args_change_tempo_of_the_rest_after_the_seek(
    four_seconds: Path, speed: float
) -> None:
    """-ss is source time: 3 s of source are left after 1.0, and last 3 / speed s."""
    job = DecodeJob(ffmpeg_input(str(four_seconds)), position=1.0, speed=speed)
    args = decode_args("ffmpeg", job, realtime=False)
    assert args[args.index("-af") + 1] == f"volume=1.00,atempo={speed_text(speed)}"
    assert args.index("-ss") < args.index("-i")
    assert output_seconds(args) == pytest.approx(3.0 / speed, abs=0.15)


def test_realtime_pacing_reads_the_source_at_speed(four_seconds: Path) -> None:
    """ffmpeg's -re paces its INPUT: at 2x it must read 2 s of source per second."""
    job = DecodeJob(ffmpeg_input(str(four_seconds)), speed=2.0)
    args = decode_args("ffmpeg", job)
    assert "-re" not in args
    assert args[args.index("-readrate") + 1] == "2"
    started = time.monotonic()
    seconds = output_seconds(args)
    took = time.monotonic() - started
    assert seconds == pytest.approx(2.0, abs=0.15)
    # about 2 s of wall time for 2 s of output (not the 4 s that -re would take)
    assert 1.2 < took < 3.5


def test_video_gets_setpts_and_tempo_in_both_engines(videos: dict[str, Path]) -> None:
    spec = fit("360p", 640, 360, 25.0)
    job = DecodeJob(ffmpeg_input(str(videos["landscape"])), video=spec, speed=2.0)
    local = decode_args("ffmpeg", job, video_pipe="pipe:1", realtime=False)
    vf = local[local.index("-vf") + 1]
    assert vf.startswith("setpts=PTS/2,scale=")
    assert "atempo=2" in local[local.index("-af") + 1]
    rtmp = track_args("ffmpeg", job, spec, start=0.0)
    assert rtmp[rtmp.index("-vf") + 1].startswith("setpts=PTS/2,scale=")
    assert rtmp[rtmp.index("-readrate") + 1] == "2"
    # the picture really is half as long: a 2 s clip at 25 fps gives about 25 frames
    silent = DecodeJob(ffmpeg_input(str(videos["landscape"])), video=spec, has_audio=False)
    for speed, frames in ((1.0, 50), (2.0, 25)):
        args = decode_args("ffmpeg", replace(silent, speed=speed), realtime=False)
        assert frames_out(args, spec.frame_bytes) == pytest.approx(frames, abs=3)


# -- the local engine ------------------------------------------------------------------------


@pytest.fixture
async def engine() -> AsyncIterator[tuple[LocalEngine, Recorder]]:
    eng = LocalEngine()
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    yield eng, rec
    await eng.close()


async def wall_time_to_end(eng: LocalEngine, rec: Recorder, request: PlayRequest) -> float:
    started = time.monotonic()
    await eng.play(request)
    await rec.wait_for(TrackEnded, timeout=15, nth=len(rec.of(TrackEnded)) + 1)
    return time.monotonic() - started


async def test_local_engine_really_plays_faster(
    engine: tuple[LocalEngine, Recorder], tone: Path
) -> None:
    """A 2 s tone at 2x ends in about 1 s; at 1x in about 2 s (a ratio, so a loaded
    machine's start-up delays do not decide it)."""
    eng, rec = engine
    normal = await wall_time_to_end(eng, rec, PlayRequest(CHAT, "n", str(tone), duration=2.0))
    fast = await wall_time_to_end(
        eng, rec, PlayRequest(CHAT, "f", str(tone), duration=2.0, speed=2.0)
    )
    slow = await wall_time_to_end(
        eng, rec, PlayRequest(CHAT, "s", str(tone), duration=2.0, speed=0.5)
    )
    assert 0.6 < fast < 1.8
    assert fast / normal == pytest.approx(0.5, abs=0.2)
    assert slow / normal == pytest.approx(2.0, abs=0.5)


async def test_local_engine_position_is_track_time(
    engine: tuple[LocalEngine, Recorder], four_seconds: Path
) -> None:
    eng, _ = engine
    await eng.play(PlayRequest(CHAT, "t", str(four_seconds), position=1.0, speed=2.0))
    await asyncio.sleep(0.8)
    position = await eng.position(CHAT)
    assert position is not None
    # 1.0 + 2 x (about 0.8 s of output); the reader may run LEAD_SECONDS ahead
    assert 2.0 < position < 3.6
    await eng.pause(CHAT)
    paused = await eng.position(CHAT)
    await eng.seek(CHAT, 0.5)
    assert await eng.position(CHAT) == 0.5
    assert paused is not None


async def test_local_engine_refuses_a_speed_no_filter_may_carry(
    engine: tuple[LocalEngine, Recorder], tone: Path
) -> None:
    eng, _ = engine
    for bad in (float("nan"), 0.0, 5.0):
        with pytest.raises(MediaError, match="speed"):
            await eng.play(PlayRequest(CHAT, "x", str(tone), speed=bad))
    assert eng.process_ids() == []


async def test_a_live_request_plays_at_normal_speed(
    engine: tuple[LocalEngine, Recorder], tone: Path
) -> None:
    eng, rec = engine
    took = await wall_time_to_end(
        eng, rec, PlayRequest(CHAT, "l", str(tone), is_live=True, speed=2.0)
    )
    assert took > 1.5  # 2 s of sound, not 1


# -- the py-tgcalls engine ---------------------------------------------------------------


def test_pytgcalls_parameters_at_speed(tone: Path) -> None:
    request = PlayRequest(CHAT, "t", str(tone), speed=1.5)
    params = ffmpeg_parameters(ffmpeg_input(str(tone)), request, 12.0)
    assert params == (
        "-protocol_whitelist file -ss 12.000 "
        "--audio -atmid -af atempo=1.5 --video -atstart -itsscale 0.666667"
    )
    assert ffmpeg_parameters(ffmpeg_input(str(tone)), PlayRequest(CHAT, "t", str(tone)), 0) == (
        "-protocol_whitelist file"
    )
    live = PlayRequest(CHAT, "t", str(tone), speed=1.5, is_live=True)
    assert "atempo" not in ffmpeg_parameters(ffmpeg_input(str(tone)), live, 0)


async def test_pytgcalls_builds_commands_that_play_at_speed(four_seconds: Path) -> None:
    """The commands py-tgcalls itself builds from our parameters (through its probe and
    its option clean-up), run on real ffmpeg: 3 s of source after -ss 1 last 1.5 s."""
    stream = build_stream(PlayRequest(CHAT, "t", str(four_seconds), speed=2.0), 1.0)
    await stream.check_stream()
    command = shlex.split(stream.microphone.path)
    assert command[command.index("-af") + 1] == "atempo=2"
    assert command.index("-ss") < command.index("-i") < command.index("-af")
    assert output_seconds(command) == pytest.approx(1.5, abs=0.15)


async def test_pytgcalls_video_runs_faster_with_its_own_scale(videos: dict[str, Path]) -> None:
    """py-tgcalls appends its own -vf scale (ffmpeg keeps only the last -vf), so the
    picture is sped up by -itsscale on its input; run, a 2 s clip gives half the frames."""
    spec = fit("360p", 640, 360, 25.0)
    frames = {}
    for speed in (1.0, 2.0):
        request = PlayRequest(CHAT, "v", str(videos["landscape"]), video=spec, speed=speed)
        stream = build_stream(request, 0.0)
        await stream.check_stream()
        camera = shlex.split(stream.camera.path)
        assert camera.count("-vf") == 1
        if speed != 1.0:
            assert camera.index("-itsscale") < camera.index("-i")
            assert camera[camera.index("-itsscale") + 1] == "0.500000"
            assert "atempo=2" in stream.microphone.path
        width, height = stream._video_parameters.width, stream._video_parameters.height
        frames[speed] = frames_out(camera, width * height * 3 // 2)
    assert frames[1.0] == pytest.approx(50, abs=3)
    assert frames[2.0] == pytest.approx(25, abs=3)


async def test_pytgcalls_position_counts_track_time(tone: Path) -> None:
    calls, client = FakeCalls(), FakeClient()
    engine = PyTgCallsEngine(
        api_id=1, api_hash="x", session_string="s", invite_link=lambda _c: asyncio.sleep(0, ""),
        client_factory=lambda: client, calls_factory=lambda _c: calls,
    )  # fmt: skip
    await engine.start()
    try:
        await engine.play(PlayRequest(CHAT, "t", str(tone), position=10.0, speed=1.5))
        calls.played_seconds = 4
        assert await engine.position(CHAT) == pytest.approx(16.0)
        # a seek keeps the tempo: the restarted stream has it too
        await engine.seek(CHAT, 20.0)
        assert "atempo=1.5" in calls.log[-1][3]
        assert "-ss 20.000" in calls.log[-1][3]
        calls.played_seconds = 2
        assert await engine.position(CHAT) == pytest.approx(23.0)
        with pytest.raises(MediaError, match="speed"):
            await engine.play(PlayRequest(CHAT, "x", str(tone), speed=float("inf")))
    finally:
        await engine.close()


# -- the RTMP engine -------------------------------------------------------------------------


async def test_rtmp_engine_pushes_a_sped_up_track(tmp_path: Path, videos: dict[str, Path]) -> None:
    """A 2 s clip at 2x reaches a real RTMP server as about 1 s of picture and sound."""
    from bot.engines.rtmp import RtmpEngine, RtmpTarget
    from tests.support.rtmp_server import RtmpServer

    server = RtmpServer(tmp_path / "got.flv")
    await server.start("key-1")

    async def targets(chat_id: int) -> RtmpTarget | None:
        return RtmpTarget(server.url, "key-1")

    eng = RtmpEngine(targets=targets, quality="360p")
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    try:
        spec = fit("360p", 640, 360, 25.0)
        await eng.play(PlayRequest(CHAT, "v", str(videos["landscape"]), video=spec, speed=2.0))
        await rec.wait_for(TrackEnded, timeout=15)
        # about 25 frames went out, and they are the whole 2 s of the track
        position = await eng.position(CHAT)
        assert position == pytest.approx(2.0, abs=0.3)
        await eng.stop(CHAT)
        assert await server.finished() == 0
    finally:
        await eng.close()
        await server.close()
    assert 0.7 <= float(server.streams()["duration"]) <= 1.6  # type: ignore[arg-type]
