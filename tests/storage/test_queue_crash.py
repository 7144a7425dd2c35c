"""kill -9 a process in the middle of its queue operations, then check what survived.

Every backend: each operation is atomic (a batch enqueue included: all of it or none), so
after the kill the store holds exactly the state after the last acknowledged operation, or
after the one in flight; never a track twice, never one lost, never out of order.  Redis
also loses nothing acknowledged when redis-server itself is killed (AOF with fsync on every
write, as the fixture runs it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.domain.models import Track
from bot.domain.queue import StorageUnavailable
from tests.storage.conftest import Backend
from tests.support.procs import RedisServer
from tests.support.queue_backends import open_store
from tests.support.queue_crash import snapshot, states

ROOT = Path(__file__).resolve().parents[2]
# (pause_at, kill_after): pause_at >= 0 kills between operations (after that one); else
# the child is killed while running, right after it reports kill_after operations.
# Ops 5, 13, 19 and 32 are batches (enqueue_many; 19 queues 600 tracks): the kills right
# after ops 4, 12 and 18 land on or next to one, which must then be whole or absent.
KILL_POINTS = [
    (3, 0),
    (5, 0),
    (13, 0),
    (-1, 0),
    (-1, 4),
    (-1, 12),
    (-1, 18),
    (-1, 19),
    (-1, 30),
]


class Child:
    """A child process running the scripted sequence against its own connection."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.acked = 0
        self.lines: list[str] = []

    @classmethod
    async def start(cls, backend: Backend, chat_id: int, pause_at: int) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.queue_crash",
            backend.kind,
            backend.url,
            str(chat_id),
            str(pause_at),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def read_line(self) -> str:
        assert self.proc.stdout is not None
        line = (await self.proc.stdout.readline()).decode().strip()
        self.lines.append(line)
        if line.startswith("ok "):
            self.acked = int(line.removeprefix("ok "))
        return line

    async def wait_for(self, done: int | None = None, line: str | None = None) -> None:
        while True:
            got = await self.read_line()
            assert got, f"child ended early: {self.lines}"
            if got == line or (done is not None and self.acked >= done and got != "ready"):
                return

    async def finish(self) -> int:
        """Reads the rest of what the child printed; returns its exit code."""
        while await self.read_line():
            pass
        return await self.proc.wait()


async def kill_and_check(backend: Backend, chat_id: int, pause_at: int, kill_after: int) -> None:
    child = await Child.start(backend, chat_id, pause_at)
    if pause_at >= 0:
        await child.wait_for(line="paused")
    else:
        await child.wait_for(line="ready" if kill_after == 0 else None, done=kill_after or None)
    child.proc.send_signal(signal.SIGKILL)
    assert await child.finish() == -signal.SIGKILL, child.lines
    assert "finished" not in child.lines
    store = await backend.open()
    found = await snapshot(store, chat_id)
    expected = states()
    if pause_at >= 0:
        assert child.acked == pause_at
        assert found == expected[pause_at]
    else:
        assert found in (expected[child.acked], expected[child.acked + 1]), child.lines


async def test_killed_mid_sequence_leaves_each_track_exactly_once(backend: Backend) -> None:
    for n, (pause_at, kill_after) in enumerate(KILL_POINTS):
        await kill_and_check(backend, 1000 + n, pause_at, kill_after)
    # the unkilled script ends where the model says, so the model is the right yardstick
    child = await Child.start(backend, 999, -1)
    assert await child.finish() == 0
    assert await snapshot(await backend.open(), 999) == states()[-1]


async def test_redis_keeps_the_queue_across_a_server_kill(
    redis_server: RedisServer, redis_url: str
) -> None:
    backend = Backend("redis", redis_url)
    store = await backend.open()
    tracks = [Track(title=f"t{i}", source="s", media="m") for i in range(3)]
    for t in tracks:
        await store.enqueue(7, t, limit=10)
    await store.start_next(7, now=1.0)
    await store.checkpoint(7, tracks[0].id, position=4.5, paused=False, now=5.0)

    redis_server.stop(kill=True)
    with pytest.raises(StorageUnavailable):
        await store.pending(7)
    redis_server.start()

    # the same store reconnects by itself; nothing acknowledged was lost
    assert await store.pending(7) == tracks[1:]
    now = await store.now_playing(7)
    assert now is not None
    assert (now.track, now.position, now.updated_at) == (tracks[0], 4.5, 5.0)
    # scripts are gone from the restarted server's cache: the store loads them again
    result = await store.advance(7, tracks[0].id, now=6.0, natural=True)
    assert (result.advanced, result.finished) == (True, tracks[0])
    fresh = await backend.open()
    assert await fresh.chats_with_state() == [7]
    assert await fresh.pending(7) == tracks[2:]
    for handle in backend.opened:
        await handle.close()


async def test_redis_server_killed_under_a_writer_keeps_every_acknowledged_step(
    redis_server: RedisServer, redis_url: str
) -> None:
    backend = Backend("redis", redis_url)
    child = await Child.start(backend, 55, -1)
    await child.wait_for(done=10)
    redis_server.stop(kill=True)
    code = await child.finish()
    redis_server.start()
    assert code == 3, child.lines  # the child saw StorageUnavailable and stopped
    handle = await open_store("redis", redis_url)
    try:
        found = await snapshot(handle.store, 55)
    finally:
        await handle.close()
    assert found in (states()[child.acked], states()[child.acked + 1]), child.lines
