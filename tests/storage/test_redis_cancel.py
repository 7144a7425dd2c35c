"""Cancelling a task inside a Redis store call: it ends, and the store stays exact and usable.

On Python 3.11 redis-py's write step (``asyncio.wait_for`` around the socket write) drops a
cancellation that lands just after the command was written; the store (on its own client,
``redis_wire``) must not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.domain.models import LoopMode, NowPlaying, Track
from bot.storage import redis_wire
from bot.storage.redis_queue import RedisQueueStore

A = Track(title="a", source="s", media="m")
B = Track(title="b", source="s", media="m")
C = Track(title="c", source="s", media="m")
CHAT = 1
ENDS_WITHIN = 1.0  # seconds; a working cancel ends the task within a few event-loop turns


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisQueueStore]:
    store = await RedisQueueStore.open(redis_url)
    await store.enqueue(CHAT, A, limit=10)
    await store.enqueue(CHAT, B, limit=10)
    await store.start_next(CHAT, now=1.0)  # A plays, B waits
    await store.set_loop(CHAT, LoopMode.QUEUE)
    yield store
    await store.close()


def playing(now: NowPlaying | None) -> Track | None:
    return None if now is None else now.track


def titles(tracks: list[Track]) -> list[str]:
    """Loop mode QUEUE re-queues a finished track under a new id: compare by title there."""
    return [track.title for track in tracks]


async def ends_cancelled(task: asyncio.Task[Any]) -> None:
    done, _ = await asyncio.wait({task}, timeout=ENDS_WITHIN)
    assert done, "the task ran on after cancel()"
    assert task.cancelled(), f"ended with {task.result()!r} instead of CancelledError"


async def test_a_cancelled_read_loop_stops(store: RedisQueueStore) -> None:
    """The reported case: a loop of reads cancelled at each step of its command cycle.

    Counted from the calls that finished, not from loop turns alone: under load a round
    trip outlasts any fixed number of turns, and the cancels would all land in the first
    call."""
    done, target, reached = 0, 0, asyncio.Event()

    def finished() -> None:
        nonlocal done
        done += 1
        if done >= target:
            reached.set()

    async def read_forever() -> None:
        while True:
            assert playing(await store.now_playing(CHAT)) == A
            finished()
            assert await store.pending(CHAT) == [B]
            finished()
            assert await store.get_loop(CHAT) is LoopMode.QUEUE
            finished()

    for target in range(5):  # in each of the three calls, and in the next lap's first two
        for turns in range(12):  # each count of loop turns stops the call at another step
            done = 0
            reached.clear()
            if target == 0:
                reached.set()
            task = asyncio.create_task(read_forever())
            await asyncio.wait_for(reached.wait(), timeout=5)
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            await ends_cancelled(task)
    assert await store.pending(CHAT) == [B]


@pytest.fixture
def cancel_after_write(monkeypatch: pytest.MonkeyPatch) -> Callable[[asyncio.Task[Any]], None]:
    """Arms a cancel of the given task right after its next command is on the socket, before
    the task resumes: the moment ``wait_for`` on Python 3.11 loses it."""
    armed: list[asyncio.Task[Any]] = []
    send = redis_wire._Connection.send

    def send_then_cancel(conn: redis_wire._Connection, data: bytes) -> None:
        send(conn, data)
        if armed:
            armed.pop().cancel()

    monkeypatch.setattr(redis_wire._Connection, "send", send_then_cancel)
    return armed.append


CALLS: dict[str, Callable[[RedisQueueStore], Awaitable[Any]]] = {
    "now_playing": lambda s: s.now_playing(CHAT),
    "pending": lambda s: s.pending(CHAT),
    "get_loop": lambda s: s.get_loop(CHAT),
    "pending_and_loop": lambda s: s.pending_and_loop(CHAT),
    "enqueue": lambda s: s.enqueue(CHAT, C, limit=10),
    "advance": lambda s: s.advance(CHAT, A.id, now=2.0, natural=True),
}


@pytest.mark.parametrize("op", list(CALLS))
async def test_a_cancel_just_after_the_write_is_not_lost(
    store: RedisQueueStore, cancel_after_write: Callable[[asyncio.Task[Any]], None], op: str
) -> None:
    async def call_then_park() -> None:
        await CALLS[op](store)
        await asyncio.Event().wait()  # only a lost cancel gets here, and stays

    task = asyncio.create_task(call_then_park())
    cancel_after_write(task)
    await ends_cancelled(task)
    # The command was written and its reply read: a write happened, whole, once.
    expected: dict[str, tuple[Track, list[str]]] = {
        "enqueue": (A, ["b", "c"]),
        "advance": (B, ["a"]),  # loop mode QUEUE puts the finished A back at the end
    }
    current, pending = expected.get(op, (A, ["b"]))
    assert playing(await store.now_playing(CHAT)) == current
    assert titles(await store.pending(CHAT)) == pending
    assert await store.enqueue(CHAT, Track(title="d", source="s", media="m"), limit=10) == (
        len(pending) + 1
    )
    assert titles(await store.pending(CHAT)) == [*pending, "d"]


async def test_a_write_cancelled_while_awaiting_its_reply_leaves_the_store_exact(
    store: RedisQueueStore, raw: Redis
) -> None:
    """The server holds the script (CLIENT PAUSE WRITE) while the task is cancelled: the
    connection is dropped, the script never runs, and the store works on."""
    await raw.client_pause(10_000, all=False)
    try:
        task = asyncio.create_task(store.enqueue(CHAT, C, limit=10))
        await until(raw, lambda clients: clients["blocked_clients"] == 1)
        task.cancel()
        await ends_cancelled(task)
        await until(raw, lambda clients: clients["blocked_clients"] == 0)  # it hung up
    finally:
        await raw.client_unpause()
    assert await store.pending(CHAT) == [B]
    advanced = await store.advance(CHAT, A.id, now=2.0, natural=True)
    assert (advanced.advanced, advanced.finished) == (True, A)
    assert playing(await store.now_playing(CHAT)) == B
    assert titles(await store.pending(CHAT)) == ["a"]


async def until(raw: Redis, condition: Callable[[dict[str, Any]], bool]) -> None:
    """Polls INFO clients until ``condition`` holds (a server-side state, no clock to drive)."""
    for _ in range(500):
        if condition(await raw.info("clients")):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("redis-server never reached the expected client state")
