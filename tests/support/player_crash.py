"""A child process running the real player under a scripted random load, for kill -9 tests.

``python -m tests.support.player_crash CONFIG.json`` opens a RedisQueueStore, the LocalEngine
(real ffmpeg) and a PlayerManager on SQLite repositories, recovers, prints ``ready``, then
runs random operations on one chat forever: enqueue (a short or a longer generated track),
a batch enqueue of three (a playlist), skip, stop, or a pause that lets tracks end by
themselves.  It keeps a journal (one line per
step, appended and fsynced): ``try <op>`` before a command, ``ok <op>`` once it returned, and
``ok end`` when a natural end was handled.  Every store change happens under the chat's lock
and its ``ok`` line is written before any other task runs, so at most one acknowledged step
is missing from the journal at the instant of a kill.

Some tracks are videos (the local engine decodes their picture too).  A second chat
(``RTMP_CHAT``) plays a looped queue of video tracks, queued once and resumed by every
restart; with ``rtmp_url`` set it streams through the RTMP engine to that server.

Each engine ``play`` is printed as ``play <chat> <track id> <position> <wall time> <kind>``
(kind: audio or video, what the engine was asked to show) so the parent can check what a
restart resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.domain.errors import PlayerError
from bot.domain.events import EventBus
from bot.domain.models import LoopMode, MediaKind, SourceKind, Track
from bot.domain.policy import PlayerPolicy
from bot.domain.ports import RtmpTarget
from bot.engines.base import PlayRequest, VoiceEngine
from bot.engines.local import LocalEngine
from bot.engines.router import EngineRouter
from bot.engines.rtmp import RtmpEngine
from bot.players import make_players
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, session_factory
from bot.storage.redis_queue import RedisQueueStore
from bot.storage.repos import HistoryRepo

CHAT = -1009000000001
RTMP_CHAT = -1009000000002
RTMP_KEY = "crash-key"
QUALITY = "360p"


@dataclass(frozen=True)
class Media:
    path: str
    seconds: float
    #: (width, height, fps) of a video file; None: audio
    video: tuple[int, int, int] | None = None


def track(index: int, media: Media, *, prefix: str = "") -> Track:
    width, height, fps = media.video or (None, None, None)
    return Track(
        title=f"track {index}",
        source=f"https://example.org/{index}",
        media=media.path,
        kind=SourceKind.URL,
        duration=media.seconds,
        media_kind=MediaKind.AUDIO if media.video is None else MediaKind.VIDEO,
        quality=None if media.video is None else QUALITY,
        width=width,
        height=height,
        fps=fps,
        id=f"{prefix}{index:0{32 - len(prefix)}x}",
    )


class Journal:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: str) -> None:
        os.write(self._fd, f"{line}\n".encode())
        os.fsync(self._fd)


def report_play(request: PlayRequest) -> None:
    kind = "audio" if request.video is None else "video"
    at = f"{request.position:.3f} {time.time():.3f}"
    print(f"play {request.chat_id} {request.track_id} {at} {kind}", flush=True)


class RecordingEngine(LocalEngine):
    """The LocalEngine, printing each play request (what a restart asked the engine for)."""

    async def play(self, request: PlayRequest) -> None:
        report_play(request)
        await super().play(request)


class RecordingRtmp(RtmpEngine):
    async def play(self, request: PlayRequest) -> None:
        report_play(request)
        await super().play(request)


def build_engine(rtmp_url: str | None) -> VoiceEngine:
    """The local engine; with ``rtmp_url``, RTMP_CHAT streams there through the RTMP
    engine, chosen per chat as the app chooses it."""
    local = RecordingEngine()
    if rtmp_url is None:
        return local

    async def targets(chat_id: int) -> RtmpTarget | None:
        return RtmpTarget(rtmp_url, RTMP_KEY) if chat_id == RTMP_CHAT else None

    async def choice(chat_id: int) -> str | None:
        return "rtmp" if chat_id == RTMP_CHAT else None

    return EngineRouter(local, {"rtmp": RecordingRtmp(targets=targets, quality=QUALITY)}, choice)


class NoPlaylists:
    """No 24/7 playlist is configured in this scenario."""

    async def expand(self, entry: str, *, video_quality: str | None = None) -> list[Track]:
        return []


async def run(config: dict[str, Any]) -> None:
    journal = Journal(Path(config["journal"]))
    short, long, film = (Media(**m) for m in config["media"])
    rng = random.Random(f"{config['seed']}:{config['generation']}")
    store = await RedisQueueStore.open(config["redis_url"])
    sessions = session_factory(create_engine(config["database_url"]))
    rtmp_url: str | None = config.get("rtmp_url")
    engine = build_engine(rtmp_url)
    players = make_players(
        PlayerPolicy(resume_rewind_seconds=0, checkpoint_seconds=1),
        store=store,
        engine=engine,
        bus=EventBus(),
        history=HistoryRepo(sessions),
        settings=ChatSettingsRepo(sessions),
        playlists=NoPlaylists(),
    )
    # a natural end (or a failure that advanced) is journaled once the player handled it
    # (the journal is the first chat's: the second one's looped tracks end too)
    players.on_track_handled(
        lambda event: journal.write("ok end") if event.chat_id == CHAT else None
    )
    await engine.start()
    journal.write("try recover")
    await players.recover()
    journal.write("ok recover")
    await players.start()
    channel = await players.snapshot(RTMP_CHAT)
    if channel.now is None and not channel.pending:
        for k in range(2):
            await players.play(RTMP_CHAT, track(k, film, prefix="e"))  # ids apart from CHAT's
    if channel.loop is not LoopMode.QUEUE:  # looped for ever: every restart resumes it
        await players.set_loop(RTMP_CHAT, LoopMode.QUEUE)
    print("ready", flush=True)
    index = int(config["first_index"])

    def pick() -> Media:
        """A longer audio track, a video or a short audio track."""
        chance = rng.random()
        return long if chance < 0.3 else film if chance < 0.5 else short

    while True:
        roll = rng.random()
        if roll < 0.3:
            item = track(index, pick())
            index += 1
            journal.write(f"try enq {item.id}")
            await players.play(CHAT, item)
            journal.write(f"ok enq {item.id}")
        elif roll < 0.38:  # a playlist: several tracks in one atomic batch
            items = [track(index + i, pick()) for i in range(3)]
            index += len(items)
            ids = ",".join(item.id for item in items)
            journal.write(f"try batch {ids}")
            await players.play_many(CHAT, items)
            journal.write(f"ok batch {ids}")
        elif roll < 0.5:
            journal.write("try skip")
            with contextlib.suppress(PlayerError):  # nothing was playing: nothing changed
                await players.skip(CHAT)
            journal.write("ok skip")
        elif roll < 0.57:
            journal.write("try stop")
            await players.stop(CHAT)
            journal.write("ok stop")
        else:
            await asyncio.sleep(rng.uniform(0.1, 0.6))


if __name__ == "__main__":
    asyncio.run(run(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
