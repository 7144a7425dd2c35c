"""rtmp_cpu: CPU seconds per minute of an RTMP push, the rtmp engine (one ffmpeg per track
decoding and encoding into MPEG-TS, this process forwarding its packets, one relay copying
them into the connection) versus a bare ``ffmpeg -re -i FILE -c:v libx264 -c:a aac -f flv
URL`` push of the same file to the same kind of server at the same size, rate and encoder
settings (``encoder_settings``, the engine's own).

Each side pushes to its own ``ffmpeg -listen 1`` RTMP server on a loopback port (the
servers' CPU is not counted).  Sides alternate in rounds.  Ours counts its track and relay
children plus this process's CPU during the round; the bare push is one process doing
decode, scale and encode itself.

Its children are the engine's own (``process_ids``), sampled every 50 ms at their last
sighting.  Until 2026-12-02 they were found with psutil's ``children()``, which reads every
``/proc`` entry: ~0.5 s of this process's CPU in a 20 s round, charged to ours.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import psutil

from benchmarks.audio_cpu import cpu_of
from benchmarks.common import Result, scratch_dir
from bot.domain.video import fit
from bot.engines.base import EngineEvent, PlayRequest, TrackEnded
from bot.engines.decode import canvas_filter
from bot.engines.rtmp import RtmpEngine, RtmpTarget
from bot.engines.rtmp_args import encoder_settings
from tests.support.rtmp_server import RtmpServer
from tests.support.video import make_video

SECONDS = 20.0
ROUNDS = 2
QUALITY = "720p"
KEY = "bench"


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


async def engine_cpu(engine: RtmpEngine, stop: asyncio.Event) -> float:
    """CPU seconds of the engine's processes (decoders come and go), each at its last
    sighting, until ``stop`` is set."""
    seen: dict[int, float] = {}
    procs: dict[int, psutil.Process] = {}
    while True:
        for pid in engine.process_ids():
            try:
                proc = procs.get(pid)
                if proc is None:  # made once: each one reads the process's /proc entry
                    proc = procs[pid] = psutil.Process(pid)
                times = proc.cpu_times()  # a zombie keeps its times until it is reaped
            except psutil.Error:
                continue
            seen[pid] = times.user + times.system
        if stop.is_set():
            return sum(seen.values())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


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
    before, stop = own_cpu(), asyncio.Event()
    watch = asyncio.create_task(engine_cpu(engine, stop))
    try:
        spec = fit(QUALITY, 1920, 1080, 30)
        await engine.play(PlayRequest(1, "film", str(film), video=spec))
        await asyncio.wait_for(done.wait(), SECONDS + 60)
    finally:
        await engine.close()  # sampled through it: the encoder's last flush counts too
        stop.set()
    children = await watch
    mine = own_cpu() - before
    await server.close()
    return mine + children


async def bare(film: Path, workdir: Path) -> float:
    server = RtmpServer(workdir / "bare.flv")
    await server.start(KEY)
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(film),
        "-vf", canvas_filter(fit(QUALITY)), *encoder_settings(fit(QUALITY)),
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
