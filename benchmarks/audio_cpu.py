"""audio_cpu: CPU seconds of the ffmpeg child per minute of audio, the local engine's
pipeline versus a bare ``ffmpeg -re -i FILE -f s16le -ac 2 -ar 48000 pipe:1`` decode of
the same file.

The engine always runs ffmpeg with ``-re`` (real-time pace), so the bare decode does too:
both sides then do the same work at the same pace, and the CPU seconds compare directly
(``-re`` only sleeps between packets; without it both would burn the same CPU faster).
Three of each run at once for a 30-second file; each child's CPU time (user + system) is
read from /proc with psutil every 20 ms while it lives (and once more as a zombie, which
keeps its times until reaped).  The engine's children are the ones it lists in
``process_ids()``; the bare ones' stdout is read in 100 ms chunks, as the engine reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import psutil

from benchmarks.common import Result, local_engine, scratch_dir
from bot.engines.base import PlayRequest
from bot.engines.local import CHUNK
from tests.support.audio import make_tone

SECONDS = 30.0
PAIRS = 3
SAMPLE = 0.02


async def cpu_of(pid: int) -> float:
    """CPU seconds of ``pid`` at its last sighting alive."""
    last = 0.0
    with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
        proc = psutil.Process(pid)
        while proc.status() != psutil.STATUS_ZOMBIE:
            times = proc.cpu_times()
            last = times.user + times.system
            await asyncio.sleep(SAMPLE)
        times = proc.cpu_times()  # a zombie keeps its times until it is reaped
        last = times.user + times.system
    return last


async def bare(song: Path) -> float:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", str(song),
        "-vn", "-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    cpu = asyncio.create_task(cpu_of(proc.pid))
    while await proc.stdout.read(CHUNK):
        pass
    await proc.wait()
    return await cpu


async def ours(song: Path) -> list[float]:
    async with local_engine(PAIRS) as (engine, done):
        for chat_id in range(1, PAIRS + 1):
            await engine.play(PlayRequest(chat_id, f"track{chat_id}", str(song)))
        pids = engine.process_ids()
        assert len(pids) == PAIRS
        cpus = await asyncio.gather(*(cpu_of(pid) for pid in pids))
        await asyncio.wait_for(done.wait(), SECONDS + 30)
    return list(cpus)


async def run() -> Result:
    with scratch_dir() as workdir:
        song = make_tone(
            workdir / "song.mp3", seconds=SECONDS, codec_args=("-c:a", "libmp3lame", "-b:a", "128k")
        )
        results = await asyncio.gather(ours(song), *(bare(song) for _ in range(PAIRS)))
    ours_cpu: list[float] = results[0]  # type: ignore[assignment]
    bare_cpu: list[float] = results[1:]  # type: ignore[assignment]
    minutes = PAIRS * SECONDS / 60
    ours_rate, bare_rate = sum(ours_cpu) / minutes, sum(bare_cpu) / minutes
    return Result(
        bench="audio_cpu",
        ours=ours_rate,
        baseline=bare_rate,
        target="<=1.1",
        unit="CPU s per audio minute",
        rows=[
            ("audio", f"{PAIRS} x {SECONDS:.0f} s mp3 (128 kb/s) per side, all at once"),
            ("ours: local engine's ffmpeg", f"{ours_rate:.3f} CPU s/min"),
            ("bare ffmpeg -re ... -f s16le", f"{bare_rate:.3f} CPU s/min"),
        ],
    )


if __name__ == "__main__":
    asyncio.run(run()).print()
