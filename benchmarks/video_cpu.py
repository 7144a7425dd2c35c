"""video_cpu: CPU seconds per minute of a video track, the local engine's video pipeline
versus a bare ffmpeg decode + scale of the same file to rawvideo at the same size and fps.

Ours: ``LocalEngine`` plays a 1080p30 h264 + aac clip fitted to 720p (1280x720, 30 fps):
its ffmpeg decodes sound to s16le on stdout and picture, scaled, to yuv420p on a second
pipe; this process reads both at real-time pace and counts frames.  Bare: ``ffmpeg -re -i
FILE -map 0:a -f s16le ... pipe:1 -map 0:v -vf scale=W:H,fps=N -pix_fmt yuv420p -f
rawvideo pipe:3``, both pipes read here in plain chunks, nothing counted.  Each side is the
ffmpeg child's CPU (psutil, sampled while it lives) plus this process's CPU while the side
runs: the reading is part of the pipeline.  Sides run one after the other, ``ROUNDS``
times, ``STREAMS`` streams at once.

It also prints how many streams one core sustains at 480p and 720p: 60 s divided by our
CPU seconds per stream-minute at that quality.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import psutil

from benchmarks.audio_cpu import cpu_of
from benchmarks.common import Result, local_engine, scratch_dir
from bot import metrics
from bot.domain.video import VideoSpec, fit
from bot.engines.base import PlayRequest
from bot.engines.decode import video_filter
from bot.engines.local import CHUNK
from bot.engines.pipes import reader
from tests.support.video import make_video

SECONDS = 12.0
STREAMS = 2
ROUNDS = 2
SOURCE = (1920, 1080, 30)


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def ours(film: Path, spec: VideoSpec) -> float:
    """CPU of ``STREAMS`` local-engine video tracks played at once, children and self."""
    async with local_engine(STREAMS) as (engine, done):
        before, frames_before = own_cpu(), metrics.VIDEO_FRAMES._value.get()
        for chat_id in range(1, STREAMS + 1):
            await engine.play(PlayRequest(chat_id, f"film{chat_id}", str(film), video=spec))
        pids = engine.process_ids()
        assert len(pids) == STREAMS
        children = await asyncio.gather(*(cpu_of(pid) for pid in pids))
        await asyncio.wait_for(done.wait(), SECONDS + 60)
    frames = metrics.VIDEO_FRAMES._value.get() - frames_before
    # every picture was decoded and read: a pipeline that drops frames is not cheaper
    assert frames >= 0.95 * STREAMS * SECONDS * spec.fps, frames
    return own_cpu() - before + sum(children)


async def _drain(stream: asyncio.StreamReader, size: int) -> None:
    while await stream.read(size):
        pass


async def bare_one(film: Path, spec: VideoSpec) -> float:
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(film),
            "-map", "0:a:0", "-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1",
            "-map", "0:v:0", "-vf", video_filter(spec), "-pix_fmt", "yuv420p",
            "-f", "rawvideo", f"pipe:{write_fd}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,),
        )  # fmt: skip
    finally:
        os.close(write_fd)
    assert proc.stdout is not None
    picture = await reader(read_fd)
    cpu = asyncio.create_task(cpu_of(proc.pid))
    await asyncio.gather(_drain(proc.stdout, CHUNK), _drain(picture, spec.frame_bytes))
    await proc.wait()
    return await cpu


async def bare(film: Path, spec: VideoSpec) -> float:
    before = own_cpu()
    children = await asyncio.gather(*(bare_one(film, spec) for _ in range(STREAMS)))
    return own_cpu() - before + sum(children)


async def run() -> Result:
    with scratch_dir() as workdir:
        w, h, fps = SOURCE
        film = make_video(workdir / "film.mp4", seconds=SECONDS, size=f"{w}x{h}", fps=fps)
        spec = fit("720p", w, h, fps)
        ours_total = bare_total = 0.0
        for _ in range(ROUNDS):
            ours_total += await ours(film, spec)
            bare_total += await bare(film, spec)
        at_480 = await ours(film, fit("480p", w, h, fps))
    minutes = ROUNDS * STREAMS * SECONDS / 60
    ours_rate, bare_rate = ours_total / minutes, bare_total / minutes
    rate_480 = at_480 / (STREAMS * SECONDS / 60)
    return Result(
        bench="video_cpu",
        ours=ours_rate,
        baseline=bare_rate,
        target="<=1.1",
        unit="CPU s per video minute",
        rows=[
            (
                "video",
                f"{SECONDS:.0f} s {w}x{h}@{fps} h264 + aac, fitted to 720p "
                f"({spec.width}x{spec.height}@{spec.fps}); {STREAMS} at once, {ROUNDS} rounds",
            ),
            ("ours: local engine (ffmpeg + reading)", f"{ours_rate:.2f} CPU s/min"),
            ("bare ffmpeg -re ... scale rawvideo", f"{bare_rate:.2f} CPU s/min"),
            ("streams per core at 720p", f"{60 / ours_rate:.1f}"),
            ("streams per core at 480p", f"{60 / rate_480:.1f} ({rate_480:.2f} CPU s/min)"),
        ],
    )


if __name__ == "__main__":
    asyncio.run(run()).print()
