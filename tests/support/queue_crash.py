"""A scripted sequence of queue operations, its expected states, and a child that runs it.

The child (``python -m tests.support.queue_crash KIND URL CHAT PAUSE_AT``) opens its own
store, runs the script and prints ``ok N`` after the N-th operation returned.  With
``PAUSE_AT`` >= 0 it stops after that operation and waits, so the parent can kill it
between two operations; otherwise the parent kills it while it runs.  Since a killed
operation either happened or did not, the store must then hold exactly ``states()[M]`` or
``states()[M + 1]``, M being the last ``ok`` printed.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from bot.domain.models import Track
from bot.domain.queue import QueueStore, StorageUnavailable
from tests.support.queue_backends import open_store

TRACKS = 30
#: batches: (after single track i, size); one big enough to be in flight when killed
BATCHES = {2: 8, 7: 3, 10: 600, 17: 5, 26: 2}


@dataclass(frozen=True)
class Op:
    name: str  # "enqueue", "batch" (enqueue_many), "play" (start_next or advance) or "move"
    index: int = 0  # the track, for enqueue
    src: int = 0
    dst: int = 0
    indexes: tuple[int, ...] = ()  # the tracks, for batch


def track(index: int) -> Track:
    return Track(
        title=f"track {index} ✓ «{index}»",
        source=f"https://example.org/{index}",
        media=f"/media/{index}.mp3",
        id=f"{index:032x}",
    )


def script() -> list[Op]:
    ops: list[Op] = []
    pending = 0
    for i in range(TRACKS):
        ops.append(Op("enqueue", index=i))
        pending += 1
        if i in BATCHES:
            first = 1000 * (i + 1)
            ops.append(Op("batch", indexes=tuple(range(first, first + BATCHES[i]))))
            pending += BATCHES[i]
        if i % 3 == 1:
            ops.append(Op("play"))
            pending -= 1
        if i % 4 == 3 and pending >= 2:
            ops.append(Op("move", src=1, dst=pending))
    return ops


State = tuple[int | None, list[int]]


def states() -> list[State]:
    """``states()[k]``: the slot and the pending list, as track indexes, after k ops."""
    slot: int | None = None
    pending: list[int] = []
    result: list[State] = [(None, [])]
    for op in script():
        if op.name == "enqueue":
            pending.append(op.index)
        elif op.name == "batch":
            pending.extend(op.indexes)
        elif op.name == "play":
            slot = pending.pop(0) if pending else None
        else:
            pending.insert(op.dst - 1, pending.pop(op.src - 1))
        result.append((slot, list(pending)))
    return result


async def snapshot(store: QueueStore, chat_id: int) -> State:
    """What the store holds, in the same shape as ``states``."""
    now = await store.now_playing(chat_id)
    tracks = ([] if now is None else [now.track]) + await store.pending(chat_id)
    for t in tracks:
        assert t == track(int(t.id, 16)), "a track came back changed"
    indexes = [int(t.id, 16) for t in tracks]
    return (None, indexes) if now is None else (indexes[0], indexes[1:])


async def run(kind: str, url: str, chat_id: int, pause_at: int) -> int:
    handle = await open_store(kind, url)
    store = handle.store
    print("ready", flush=True)
    try:
        for done, op in enumerate(script(), start=1):
            if op.name == "enqueue":
                await store.enqueue(chat_id, track(op.index), limit=1000)
            elif op.name == "batch":
                batch = [track(i) for i in op.indexes]
                await store.enqueue_many(chat_id, batch, limit=100_000)
            elif op.name == "move":
                await store.move(chat_id, op.src, op.dst)
            else:
                now = await store.now_playing(chat_id)
                if now is None:
                    await store.start_next(chat_id, now=float(done))
                else:
                    await store.advance(chat_id, now.track.id, now=float(done), natural=True)
            print(f"ok {done}", flush=True)
            if done == pause_at:
                print("paused", flush=True)
                sys.stdin.readline()  # the parent kills us here
    except StorageUnavailable:
        print("unavailable", flush=True)
        return 3
    finally:
        await handle.close()
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    kind_arg, url_arg, chat_arg, pause_arg = sys.argv[1:5]
    sys.exit(asyncio.run(run(kind_arg, url_arg, int(chat_arg), int(pause_arg))))
