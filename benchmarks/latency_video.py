"""play_latency_video and track_gap_video: play_latency and track_gap (benchmarks/latency.py)
for video tracks, timed to the first *picture*.

The bot is the same rig (real dispatcher, PlayerManager, LocalEngine with real ffmpeg,
Redis store, SQLite, SourceResolver) against the fake Bot API.  A picture leaves ffmpeg on
a pipe of its own, which the spawn wrapper of ``benchmarks.frames`` does not see, so the
times come from the engine's own events, caught on their way to the player: ``FirstFrame``
with ``media="video"`` (emitted when the first whole frame arrived) and ``TrackEnded``
(emitted when the decoder is done, right after its last frame).

play_latency_video: from pushing ``/vplay <url>`` (a 2 s 640x360 h264 + aac mp4 on the
loopback media server) to the first picture; median of 30, each in a fresh group.  The
floor: ffprobe on the URL, then a bare ffmpeg decode + scale to rawvideo until its first
whole frame.  Ours and the floor alternate.

track_gap_video: 31 half-second 640x360 video clips with sound queued in one chat; from one
track's end to the next one's first picture, median of 30.  The floor: a bare ffmpeg
decode + scale of the same file, from its start to its first whole frame (30 starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    Result,
    alternating,
    locales,
    median_result,
    redis_server,
    scratch_dir,
)
from bot.domain.models import MediaKind, Track
from bot.domain.video import VideoSpec, fit
from bot.engines.base import EngineEvent, FirstFrame, TrackEnded
from bot.engines.decode import video_filter
from bot.telegram.sender import Sender
from tests.support.bot_rig import OWNER, BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.video import make_video

SAMPLES = 30
UNTHROTTLED = 1_000_000
SIZE = (640, 360, 25)


@dataclass
class Timeline:
    """When each track's first picture arrived and when each track ended."""

    pictures: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)

    async def first_picture(self, track_id: str | None, since: float, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while True:
            for key, at in self.pictures.items():
                if (track_id is None or key == track_id) and at >= since:
                    return at
            if time.monotonic() > deadline:
                raise TimeoutError("no first picture")
            await asyncio.sleep(0.002)


@dataclass
class Setup:
    rig: BotRig
    media: MediaServer
    timeline: Timeline
    film: Path  # 2 s, with sound
    clip: Path  # 0.5 s, with sound


@contextlib.asynccontextmanager
async def bot_with_video() -> AsyncIterator[Setup]:
    w, h, fps = SIZE
    with scratch_dir() as workdir, redis_server(workdir) as redis:
        film = make_video(workdir / "film.mp4", seconds=2.0, size=f"{w}x{h}", fps=fps)
        clip = make_video(workdir / "clip.mp4", seconds=0.5, size=f"{w}x{h}", fps=fps)
        media = MediaServer(files={"film.mp4": (film, "video/mp4")})
        await media.start()
        sender = Sender(
            group_limit=UNTHROTTLED, private_limit=UNTHROTTLED, global_limit=UNTHROTTLED
        )
        try:
            async with (
                FakeBotAPI() as api,
                BotRig.open(api, workdir, redis.url, locales(workdir), sender=sender) as rig,
            ):
                timeline = Timeline()
                deliver = rig.players.handle_event

                async def watch(event: EngineEvent) -> None:
                    now = time.monotonic()
                    if isinstance(event, FirstFrame) and event.media == "video":
                        timeline.pictures[event.track_id] = now
                    elif isinstance(event, TrackEnded):
                        timeline.ends[event.track_id] = now
                    await deliver(event)

                rig.engine.set_handler(watch)
                yield Setup(rig, media, timeline, film, clip)
        finally:
            await media.close()


async def bare_first_picture(media: str, spec: VideoSpec, *, probe: bool) -> float:
    """Seconds from start to the first whole frame of a bare decode + scale."""
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


async def run_play_latency_video() -> Result:
    spec = fit("720p", *SIZE)
    async with bot_with_video() as s:

        async def one(i: int) -> tuple[float, float]:
            chat_id = -100_800_000_000 - i
            url = s.media.url(f"files/film.mp4?n={i}")
            pushed = time.monotonic()
            s.rig.push(s.rig.updates.message(chat_id, OWNER, f"/vplay {url}"))
            picture = await s.timeline.first_picture(None, pushed)
            await s.rig.players.stop(chat_id)
            return picture - pushed, await bare_first_picture(url, spec, probe=True)

        ours, floor = await alternating(one, SAMPLES)
    return median_result(
        "play_latency_video",
        ours,
        floor,
        target="<=1.5",
        unit="s (median to first picture)",
        samples=f"{SAMPLES}, alternating, 2 s 640x360 mp4 over loopback HTTP",
        labels=("ours: /vplay update -> first picture", "floor: ffprobe + ffmpeg first frame"),
    )


async def run_track_gap_video() -> Result:
    chat_id = -100_850_000_000
    w, h, fps = SIZE
    spec = fit("720p", w, h, fps)
    async with bot_with_video() as s:
        tracks = [
            Track(
                f"Clip {k}",
                f"bench:{k}",
                str(s.clip),
                duration=0.5,
                media_kind=MediaKind.VIDEO,
                quality="720p",
                width=w,
                height=h,
                fps=fps,
            )
            for k in range(SAMPLES + 1)
        ]
        for track in tracks:
            await s.rig.players.play(chat_id, track)
        deadline = time.monotonic() + 120
        while len(s.timeline.ends) < len(tracks) or s.rig.players.active_chats():
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(s.timeline.ends)} of {len(tracks)} clips played")
            await asyncio.sleep(0.05)
        gaps = [
            s.timeline.pictures[after.id] - s.timeline.ends[before.id]
            for before, after in itertools.pairwise(tracks)
        ]
        floor = [await bare_first_picture(str(s.clip), spec, probe=False) for _ in range(SAMPLES)]
    return median_result(
        "track_gap_video",
        gaps,
        floor,
        target="<=1.0",
        unit="s (median end -> next first picture)",
        samples=f"{SAMPLES} natural advances of 0.5 s 640x360 video clips with sound",
        labels=("ours: track end -> next first picture", "floor: bare ffmpeg start -> first frame"),
    )


if __name__ == "__main__":
    for bench in (run_play_latency_video, run_track_gap_video):
        asyncio.run(bench()).print()
