"""play_latency and track_gap: how long a listener waits for sound, on the whole bot.

Both run the bot as tests/support/bot_rig.py builds it (real dispatcher, PlayerManager,
LocalEngine with real ffmpeg, Redis store, SQLite repositories, SourceResolver) against
the fake Bot API, with media from the loopback media server.  "First frame" and "last
frame" are the first and last non-empty reads of an ffmpeg child's stdout, timed by
``benchmarks.frames`` for the engine's children and the baselines' alike (the engine's
FirstFrame event is emitted at that same read).

play_latency: from pushing a ``/play <url>`` update to the fake Bot API (the bot's long
poll is waiting and returns it at once) to the engine's first audio frame; median of 50,
each in a fresh group.  The floor: ffprobe on the same URL, then ffmpeg on it until its
first frame -- the two steps a bot cannot skip.  Ours and the floor alternate.

track_gap: 51 half-second tracks queued in one chat; the silence between one track's last
frame and the next one's first frame on natural advance, median of 50.  The floor: a bare
ffmpeg started on the same file, until its first frame (50 starts, after the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import (
    Result,
    alternating,
    locales,
    median_result,
    redis_server,
    scratch_dir,
)
from benchmarks.frames import Spawn, SpawnLog, watch_spawns
from bot.domain.models import Track
from bot.engines.local import CHUNK
from bot.telegram.sender import Sender
from tests.support.audio import make_tone
from tests.support.bot_rig import OWNER, BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer

SAMPLES = 50
UNTHROTTLED = 1_000_000
FFMPEG_OUT = ("-vn", "-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1")


@dataclass
class Setup:
    rig: BotRig
    media: MediaServer
    spawns: SpawnLog
    song: Path  # 2 s
    short: Path  # 0.5 s


@contextlib.asynccontextmanager
async def bot_with_media() -> AsyncIterator[Setup]:
    with scratch_dir() as workdir, redis_server(workdir) as redis, watch_spawns() as spawns:
        song = make_tone(workdir / "song.mp3", seconds=2.0, title="Bench Tone")
        short = make_tone(workdir / "short.mp3", seconds=0.5, freq=660, title="Short")
        media = MediaServer(files={"tone.mp3": (song, "audio/mpeg")})
        await media.start()
        sender = Sender(
            group_limit=UNTHROTTLED, private_limit=UNTHROTTLED, global_limit=UNTHROTTLED
        )
        try:
            async with (
                FakeBotAPI() as api,
                BotRig.open(api, workdir, redis.url, locales(workdir), sender=sender) as rig,
            ):
                yield Setup(rig, media, spawns, song, short)
        finally:
            await media.close()


async def first_frame(spawns: SpawnLog, needle: str, since: int, timeout: float = 30) -> Spawn:
    """The first ffmpeg spawned after ``since`` whose arguments hold ``needle``, once it
    has produced its first frame."""
    deadline = time.monotonic() + timeout
    while True:
        for spawn in spawns.of("ffmpeg", since):
            if needle in spawn.args and spawn.first_read is not None:
                return spawn
        if time.monotonic() > deadline:
            raise TimeoutError(f"no ffmpeg frame for {needle}")
        await asyncio.sleep(0.002)


async def bare_first_frame(media: str, *, probe: bool) -> float:
    """Seconds from start to the first frame of a bare ffmpeg (after ffprobe if asked)."""
    started = time.monotonic()
    if probe:
        proc = await asyncio.create_subprocess_exec(
            "ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", media,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await proc.communicate()
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i", media,
        *FFMPEG_OUT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        await proc.stdout.read(CHUNK)
        return time.monotonic() - started
    finally:
        proc.kill()
        await proc.wait()


async def run_play_latency() -> Result:
    async with bot_with_media() as s:

        async def one(i: int) -> tuple[float, float]:
            chat_id = -100_900_000_000 - i
            url = s.media.url(f"files/tone.mp3?n={i}")
            since = s.spawns.mark()
            pushed = time.monotonic()
            s.rig.push(s.rig.updates.message(chat_id, OWNER, f"/play {url}"))
            spawn = await first_frame(s.spawns, url, since)
            assert spawn.first_read is not None
            await s.rig.players.stop(chat_id)
            return spawn.first_read - pushed, await bare_first_frame(url, probe=True)

        ours, floor = await alternating(one, SAMPLES)
    return median_result(
        "play_latency",
        ours,
        floor,
        target="<=1.5",
        unit="s (median to first frame)",
        samples=f"{SAMPLES}, alternating, 2 s mp3 over loopback HTTP",
        labels=("ours: /play update -> first frame", "floor: ffprobe + ffmpeg first frame"),
    )


async def run_track_gap() -> Result:
    chat_id = -100_950_000_000
    async with bot_with_media() as s:
        since = s.spawns.mark()
        for k in range(SAMPLES + 1):
            track = Track(f"Short {k}", f"bench:{k}", str(s.short), duration=0.5)
            await s.rig.players.play(chat_id, track)
        deadline = time.monotonic() + 120
        while True:
            runs = [sp for sp in s.spawns.of("ffmpeg", since) if str(s.short) in sp.args]
            if len(runs) == SAMPLES + 1 and s.rig.players.active_chats() == []:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(runs)} of {SAMPLES + 1} tracks played")
            await asyncio.sleep(0.05)
        gaps: list[float] = []
        for ended, started in itertools.pairwise(runs):
            if ended.last_read is None or started.first_read is None:
                raise AssertionError("a track without frames")
            gaps.append(started.first_read - ended.last_read)
        floor = [await bare_first_frame(str(s.short), probe=False) for _ in range(SAMPLES)]
    return median_result(
        "track_gap",
        gaps,
        floor,
        target="<=1.0",
        unit="s (median silence between tracks)",
        samples=f"{SAMPLES} natural advances of 0.5 s local mp3 tracks",
        labels=("ours: last frame -> next first frame", "floor: bare ffmpeg start -> first frame"),
    )


if __name__ == "__main__":
    for bench in (run_play_latency, run_track_gap):
        asyncio.run(bench()).print()
