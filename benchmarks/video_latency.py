"""video_play_latency and video_track_gap: play_latency and track_gap for video tracks,
timed on the first (and last) picture instead of the first sound.

The bot is the same rig as ``benchmarks.latency`` (real dispatcher, player, LocalEngine
decoding real video, Redis store, SQLite, resolver, fake Bot API, loopback media server).
The engine's picture events are timed where the engine emits them (a wrapper on its event
hook records ``time.monotonic()`` for FirstFrame(media="video") and TrackEnded, which the
engine emits at its first whole frame and right after the last one).

video_play_latency: ``/vplay <url>`` pushed -> first picture, median of SAMPLES fresh
groups; the floor is ffprobe on the URL then a bare ffmpeg decoding it to 720p rawvideo
until its first frame.  video_track_gap: SAMPLES + 1 one-second clips queued in one chat;
from one clip's end to the next clip's first picture; the floor is a bare ffmpeg start to
its first frame of the same clip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Result, locales, median, ms, redis_server, scratch_dir
from bot.domain.models import MediaKind, Track
from bot.domain.video import fit
from bot.engines.base import EngineEvent, FirstFrame, TrackEnded
from bot.engines.decode import video_filter
from bot.telegram.sender import Sender
from tests.support.bot_rig import OWNER, BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.video import make_video

SAMPLES = 20
UNTHROTTLED = 1_000_000


@dataclass
class Clock:
    pictures: dict[str, float] = field(default_factory=dict)  # track id -> first picture
    ends: dict[str, float] = field(default_factory=dict)  # track id -> TrackEnded
    first_by_chat: dict[int, float] = field(default_factory=dict)

    def saw(self, event: EngineEvent) -> None:
        now = time.monotonic()
        if isinstance(event, FirstFrame) and event.media == "video":
            self.pictures.setdefault(event.track_id, now)
            self.first_by_chat.setdefault(event.chat_id, now)
        elif isinstance(event, TrackEnded):
            self.ends.setdefault(event.track_id, now)


@contextlib.asynccontextmanager
async def rig_with_clips() -> AsyncIterator[tuple[BotRig, MediaServer, Path, Clock]]:
    with scratch_dir() as workdir, redis_server(workdir) as redis:
        film = make_video(workdir / "film.mp4", seconds=2.0, size="1280x720", fps=30)
        clip = make_video(workdir / "clip.mp4", seconds=1.0, size="1280x720", fps=30)
        media = MediaServer(files={"film.mp4": (film, "video/mp4")})
        await media.start()
        sender = Sender(
            group_limit=UNTHROTTLED, private_limit=UNTHROTTLED, global_limit=UNTHROTTLED
        )
        clock = Clock()
        try:
            async with (
                FakeBotAPI() as api,
                BotRig.open(api, workdir, redis.url, locales(workdir), sender=sender) as rig,
            ):
                emit = rig.engine._emit

                def timed(event: EngineEvent) -> None:
                    clock.saw(event)
                    emit(event)

                rig.engine._emit = timed  # type: ignore[method-assign]
                yield rig, media, clip, clock
        finally:
            await media.close()


async def bare_first_picture(media: str, *, probe: bool) -> float:
    spec = fit("720p", 1280, 720, 30)
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
        "-map", "0:v:0", "-vf", video_filter(spec), "-pix_fmt", "yuv420p", "-f", "rawvideo",
        "pipe:1", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        await proc.stdout.readexactly(spec.frame_bytes)
        return time.monotonic() - started
    finally:
        proc.kill()
        await proc.wait()


async def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("no picture")
        await asyncio.sleep(0.002)


async def run_video_play_latency() -> Result:
    ours: list[float] = []
    floor: list[float] = []
    async with rig_with_clips() as (rig, media, _clip, clock):
        for i in range(SAMPLES + 2):  # the first two warm up both paths
            chat_id = -100_800_000_000 - i
            url = media.url(f"files/film.mp4?n={i}")
            pushed = time.monotonic()
            rig.push(rig.updates.message(chat_id, OWNER, f"/vplay {url}"))
            await wait_for(lambda c=chat_id: c in clock.first_by_chat)
            await rig.players.stop(chat_id)
            bare = await bare_first_picture(url, probe=True)
            if i >= 2:
                ours.append(clock.first_by_chat[chat_id] - pushed)
                floor.append(bare)
    ours_median, floor_median = median(ours), median(floor)
    return Result(
        bench="video_play_latency",
        ours=ours_median,
        baseline=floor_median,
        target="<=1.5",
        unit="s (median to first picture)",
        rows=[
            ("samples", f"{SAMPLES}, alternating, 2 s 720p mp4 over loopback HTTP"),
            ("ours: /vplay update -> first picture", f"{ms(ours_median)} median"),
            ("floor: ffprobe + ffmpeg first frame", f"{ms(floor_median)} median"),
        ],
    )


async def run_video_track_gap() -> Result:
    chat_id = -100_850_000_000
    async with rig_with_clips() as (rig, _media, clip, clock):
        tracks = [
            Track(
                f"Clip {k}", f"bench:{k}", str(clip), duration=1.0, media_kind=MediaKind.VIDEO,
                quality="720p", width=1280, height=720, fps=30.0,
            )
            for k in range(SAMPLES + 1)
        ]  # fmt: skip
        for track in tracks:
            await rig.players.play(chat_id, track)
        await wait_for(lambda: len(clock.ends) == len(tracks), timeout=180)
        gaps = [
            clock.pictures[after.id] - clock.ends[before.id]
            for before, after in itertools.pairwise(tracks)
        ]
        floor = [await bare_first_picture(str(clip), probe=False) for _ in range(SAMPLES)]
    ours_median, floor_median = median(gaps), median(floor)
    return Result(
        bench="video_track_gap",
        ours=ours_median,
        baseline=floor_median,
        target="<=1.0",
        unit="s (median gap between pictures)",
        rows=[
            ("samples", f"{SAMPLES} natural advances of 1 s local 720p clips"),
            ("ours: end -> next first picture", f"{ms(ours_median)} median"),
            ("floor: bare ffmpeg start -> first frame", f"{ms(floor_median)} median"),
        ],
    )


if __name__ == "__main__":
    for bench in (run_video_play_latency, run_video_track_gap):
        asyncio.run(bench()).print()
