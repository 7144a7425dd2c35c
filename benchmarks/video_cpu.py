"""video_cpu: CPU seconds per minute of video, the local engine's video pipeline (its
ffmpeg decoding picture + sound at real-time pace, scaling to the fitted size, and this
process reading and counting the frames) versus a bare ffmpeg decode + scale of the same
file to rawvideo at the same size and fps (and its sound to s16le), written to /dev/null.

The two sides alternate in rounds (ours, bare, ours, bare) so a noisy neighbour hits both;
each round plays STREAMS copies at once.  Ours counts the ffmpeg children's CPU (psutil,
as audio_cpu) plus this process's own CPU during the round (the pipe reading is part of
the pipeline's cost); the bare side has no reader.  From the per-stream figures the
benchmark prints how many 480p and 720p streams one core sustains.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil

from benchmarks.audio_cpu import cpu_of
from benchmarks.common import Result, scratch_dir
from bot.domain.video import VideoSpec, fit
from bot.engines.base import EngineEvent, PlayRequest, TrackEnded
from bot.engines.decode import video_filter
from bot.engines.local import LocalEngine
from tests.support.video import make_video

SECONDS = 20.0
STREAMS = 2
ROUNDS = 2


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def ours(film: Path, spec: VideoSpec) -> float:
    engine = LocalEngine()
    ended: set[int] = set()
    done = asyncio.Event()

    async def handler(event: EngineEvent) -> None:
        if isinstance(event, TrackEnded):
            ended.add(event.chat_id)
            if len(ended) == STREAMS:
                done.set()

    engine.set_handler(handler)
    await engine.start()
    before = own_cpu()
    try:
        for chat_id in range(1, STREAMS + 1):
            await engine.play(PlayRequest(chat_id, f"v{chat_id}", str(film), video=spec))
        pids = engine.process_ids()
        cpus = await asyncio.gather(*(cpu_of(pid) for pid in pids))
        await asyncio.wait_for(done.wait(), SECONDS + 60)
    finally:
        await engine.close()
    return sum(cpus) + own_cpu() - before


async def bare_one(film: Path, spec: VideoSpec) -> float:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(film),
        "-map", "0:a:0", "-f", "s16le", "-ac", "2", "-ar", "48000", "-y", "/dev/null",
        "-map", "0:v:0", "-vf", video_filter(spec), "-pix_fmt", "yuv420p",
        "-f", "rawvideo", "-y", "/dev/null",
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    cpu = asyncio.create_task(cpu_of(proc.pid))
    await proc.wait()
    return await cpu


async def bare(film: Path, spec: VideoSpec) -> float:
    return sum(await asyncio.gather(*(bare_one(film, spec) for _ in range(STREAMS))))


async def per_stream_minute(film: Path, spec: VideoSpec) -> tuple[float, float]:
    ours_total = bare_total = 0.0
    for _ in range(ROUNDS):
        ours_total += await ours(film, spec)
        bare_total += await bare(film, spec)
    minutes = ROUNDS * STREAMS * SECONDS / 60
    return ours_total / minutes, bare_total / minutes


async def run() -> Result:
    started = time.monotonic()
    with scratch_dir() as workdir:
        film = make_video(workdir / "film.mp4", seconds=SECONDS, size="1920x1080", fps=30)
        q720 = fit("720p", 1920, 1080, 30)
        q480 = fit("480p", 1920, 1080, 30)
        ours720, bare720 = await per_stream_minute(film, q720)
        ours480, _ = await per_stream_minute(film, q480)
    return Result(
        bench="video_cpu",
        ours=ours720,
        baseline=bare720,
        target="<=1.1",
        unit="CPU s per video minute",
        rows=[
            ("video", f"{SECONDS:.0f} s 1080p30 h264 + aac, {STREAMS} at once, {ROUNDS} rounds"),
            ("ours: local engine at 720p", f"{ours720:.2f} CPU s/min"),
            ("bare ffmpeg decode + scale 720p", f"{bare720:.2f} CPU s/min"),
            ("ours at 480p", f"{ours480:.2f} CPU s/min"),
            ("720p streams one core sustains", f"{60 / ours720:.1f}"),
            ("480p streams one core sustains", f"{60 / ours480:.1f}"),
            ("wall time", f"{time.monotonic() - started:.0f} s"),
        ],
    )


if __name__ == "__main__":
    asyncio.run(run()).print()
