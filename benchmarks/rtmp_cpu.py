"""rtmp_cpu: CPU seconds per minute of an RTMP push, the rtmp engine (a decoder per track,
this process forwarding whole frames, one long-lived libx264 + aac encoder) versus a bare
``ffmpeg -re -i FILE -c:v libx264 -c:a aac -f flv URL`` push of the same file to the same
kind of server at the same size, rate and encoder settings.

Each side pushes to its own ``ffmpeg -listen 1`` RTMP server on a loopback port (the
servers' CPU is not counted).  Sides alternate in rounds.  Ours counts its decoder and
encoder children (psutil) plus this process's CPU during the round; the bare push is one
process doing decode, scale and encode itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from benchmarks.audio_cpu import cpu_of
from benchmarks.common import Result, scratch_dir
from bot.domain.video import fit
from bot.engines.base import EngineEvent, PlayRequest, TrackEnded
from bot.engines.decode import canvas_filter, frame_bitrate
from bot.engines.rtmp import RtmpEngine, RtmpTarget
from tests.support.rtmp_server import RtmpServer
from tests.support.video import make_video

SECONDS = 20.0
ROUNDS = 2
QUALITY = "720p"
KEY = "bench"


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def children_cpu(pid: int, *, besides: int) -> float:
    """CPU of every child of ``pid`` but ``besides`` (the RTMP server) seen while it runs
    (decoders come and go)."""
    seen: dict[int, float] = {}
    me = psutil.Process(pid)
    while True:
        for child in me.children():
            if child.pid == besides:
                continue
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue
            seen[child.pid] = times.user + times.system
        await asyncio.sleep(0.05)
        if not [c for c in me.children() if c.pid != besides] and seen:
            return sum(seen.values())


async def ours(film: Path, workdir: Path) -> float:
    server = RtmpServer(workdir / "ours.flv")
    await server.start(KEY)

    async def targets(chat_id: int) -> RtmpTarget | None:
        return RtmpTarget(server.url, KEY)

    engine = RtmpEngine(targets=targets, quality=QUALITY)
    done = asyncio.Event()

    async def handler(event: EngineEvent) -> None:
        if isinstance(event, TrackEnded):
            done.set()

    engine.set_handler(handler)
    await engine.start()
    before = own_cpu()
    assert server.proc is not None
    watch = asyncio.create_task(children_cpu(psutil.Process().pid, besides=server.proc.pid))
    try:
        spec = fit(QUALITY, 1920, 1080, 30)
        await engine.play(PlayRequest(1, "film", str(film), video=spec))
        await asyncio.wait_for(done.wait(), SECONDS + 60)
    finally:
        await engine.close()
    mine = own_cpu() - before
    children = await asyncio.wait_for(watch, 30)
    await server.close()
    return mine + children


async def bare(film: Path, workdir: Path) -> float:
    server = RtmpServer(workdir / "bare.flv")
    await server.start(KEY)
    frame = fit(QUALITY)
    gop = str(2 * frame.fps)
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(film),
        "-vf", canvas_filter(frame),
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", gop, "-keyint_min", gop, "-b:v", f"{frame_bitrate(frame)}k",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
        "-f", "flv", f"{server.url}/{KEY}",
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    cpu = await cpu_of(proc.pid)
    await proc.wait()
    await server.close()
    return cpu


async def run() -> Result:
    with scratch_dir() as workdir:
        film = make_video(workdir / "film.mp4", seconds=SECONDS, size="1920x1080", fps=30)
        ours_total = bare_total = 0.0
        for _ in range(ROUNDS):
            ours_total += await ours(film, workdir)
            bare_total += await bare(film, workdir)
    minutes = ROUNDS * SECONDS / 60
    ours_rate, bare_rate = ours_total / minutes, bare_total / minutes
    return Result(
        bench="rtmp_cpu",
        ours=ours_rate,
        baseline=bare_rate,
        target="<=1.1",
        unit="CPU s per pushed minute",
        rows=[
            ("video", f"{SECONDS:.0f} s 1080p30 h264 + aac pushed at {QUALITY}, {ROUNDS} rounds"),
            ("ours: rtmp engine", f"{ours_rate:.2f} CPU s/min"),
            ("bare ffmpeg -re ... libx264 aac flv", f"{bare_rate:.2f} CPU s/min"),
        ],
    )


if __name__ == "__main__":
    asyncio.run(run()).print()
