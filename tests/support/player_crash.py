"""A child process running the real player under a scripted random load, for kill -9 tests.

``python -m tests.support.player_crash CONFIG.json`` opens a RedisQueueStore, the LocalEngine
(real ffmpeg) and a PlayerManager on SQLite repositories, recovers, prints ``ready``, then
runs random operations on one chat forever: enqueue (a short or a longer generated track),
skip, stop, or a pause that lets tracks end by themselves.  It keeps a journal (one line per
step, appended and fsynced): ``try <op>`` before a command, ``ok <op>`` once it returned, and
``ok end`` when a natural end was handled.  Every store change happens under the chat's lock
and its ``ok`` line is written before any other task runs, so at most one acknowledged step
is missing from the journal at the instant of a kill.

Each engine ``play`` is printed as ``play <chat> <track id> <position> <wall time>`` so the
parent can check what a restart resumed.
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
from bot.domain.models import Track
from bot.domain.policy import PlayerPolicy
from bot.engines.base import PlayRequest
from bot.engines.local import LocalEngine
from bot.players import make_players
from bot.storage.database import create_engine, session_factory
from bot.storage.redis_queue import RedisQueueStore
from bot.storage.repos import ChatSettingsRepo, HistoryRepo

CHAT = -1009000000001


@dataclass(frozen=True)
class Media:
    path: str
    seconds: float


def track(index: int, media: Media) -> Track:
    return Track(
        title=f"track {index}",
        source=f"https://example.org/{index}",
        media=media.path,
        duration=media.seconds,
        id=f"{index:032x}",
    )


class Journal:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: str) -> None:
        os.write(self._fd, f"{line}\n".encode())
        os.fsync(self._fd)


class RecordingEngine(LocalEngine):
    """The LocalEngine, printing each play request (what a restart asked the engine for)."""

    async def play(self, request: PlayRequest) -> None:
        print(
            f"play {request.chat_id} {request.track_id} {request.position:.3f} {time.time():.3f}",
            flush=True,
        )
        await super().play(request)


class NoPlaylists:
    """No 24/7 playlist is configured in this scenario."""

    async def expand(self, entry: str) -> list[Track]:
        return []


async def run(config: dict[str, Any]) -> None:
    journal = Journal(Path(config["journal"]))
    short, long = (Media(**m) for m in config["media"])
    rng = random.Random(f"{config['seed']}:{config['generation']}")
    store = await RedisQueueStore.open(config["redis_url"])
    sessions = session_factory(create_engine(config["database_url"]))
    engine = RecordingEngine()
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
    players.on_track_handled(lambda event: journal.write("ok end"))
    await engine.start()
    journal.write("try recover")
    await players.recover()
    journal.write("ok recover")
    await players.start()
    print("ready", flush=True)
    index = int(config["first_index"])
    while True:
        roll = rng.random()
        if roll < 0.3:
            item = track(index, long if rng.random() < 0.4 else short)
            index += 1
            journal.write(f"try enq {item.id}")
            await players.play(CHAT, item)
            journal.write(f"ok enq {item.id}")
        elif roll < 0.38:  # a playlist: several tracks in one atomic batch
            items = [track(index + i, long if rng.random() < 0.4 else short) for i in range(3)]
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
