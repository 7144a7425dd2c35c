"""The download folder on real files and a real queue store (SQLite): what a sweep keeps,
what it deletes, and the size bound (least recently used first, never a queued file)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.events import EventBus
from bot.domain.models import SourceKind, Track
from bot.sources.base import SourceError
from bot.sources.cache import SWEEP_INTERVAL, DownloadCache, store_references
from bot.storage.database import create_engine, migrate
from bot.storage.queue import QueueStore
from tests.support.queue_backends import open_store

KB = 1024
CHAT = -1001


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QueueStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    handle = await open_store("sqlite", url)
    yield handle.store
    await handle.close()


def put(cache: DownloadCache, name: str, size: int, age: float = 0) -> Path:
    """A cached download of ``size`` bytes, last used ``age`` seconds ago."""
    cache.folder.mkdir(parents=True, exist_ok=True)
    path = cache.path_for(name, ".mp3")
    path.write_bytes(b"\0" * size)
    used = path.stat().st_mtime - age
    os.utime(path, (used, used))
    return path


async def queue(store: QueueStore, path: Path, *, chat_id: int = CHAT) -> None:
    track = Track(title=path.name, source="tg:x", media=str(path), kind=SourceKind.TELEGRAM)
    await store.enqueue(chat_id, track, limit=100)


def names(cache: DownloadCache) -> set[str]:
    return {p.name for p in cache.folder.iterdir()}


async def test_a_sweep_keeps_queued_and_playing_files_and_deletes_the_rest(
    tmp_path: Path, store: QueueStore
) -> None:
    cache = DownloadCache(tmp_path / "cache", max_bytes=10 * KB, references=store_references(store))
    done, playing, other_chat, _orphan = (put(cache, n, KB) for n in ("d", "p", "q", "o"))
    await queue(store, done)
    await queue(store, playing)
    await queue(store, other_chat, chat_id=CHAT - 1)
    # the first track of CHAT plays and ends: its file is named by no queue any more
    slot = await store.start_next(CHAT, now=0)
    assert slot is not None
    await store.advance(CHAT, slot.track.id, now=1, natural=True)
    assert (await store.now_playing(CHAT)) is not None
    partial = cache.folder / "tg-x.mp3.0123.part"
    partial.write_bytes(b"half")
    foreign = cache.folder / "notes.txt"  # not ours: never touched
    foreign.write_text("keep me")
    assert await cache.sweep(at_start=True) == 2
    assert names(cache) == {playing.name, other_chat.name, "notes.txt"}


async def test_files_being_resolved_are_kept_until_queued(
    tmp_path: Path, store: QueueStore
) -> None:
    clock = [1000.0]
    cache = DownloadCache(
        tmp_path / "cache",
        max_bytes=10 * KB,
        references=store_references(store),
        clock=lambda: clock[0],
    )
    fresh = put(cache, "fresh", KB)
    with cache.hold(fresh):
        assert await cache.sweep() == 0
    clock[0] += 30  # resolved half a minute ago and still not queued: kept a little longer
    assert await cache.sweep() == 0
    clock[0] += 60  # never queued (the chat's queue filled meanwhile): gone
    assert await cache.sweep() == 1
    assert names(cache) == set()


async def test_the_bound_evicts_least_recently_used_never_a_queued_file(
    tmp_path: Path, store: QueueStore
) -> None:
    cache = DownloadCache(tmp_path / "cache", max_bytes=10 * KB, references=store_references(store))
    oldest_queued = put(cache, "queued", 3 * KB, age=500)
    old = put(cache, "old", 3 * KB, age=300)
    recent = put(cache, "recent", 3 * KB, age=100)
    await queue(store, oldest_queued)
    await cache.make_room(2 * KB)  # 9 + 2 > 10: the oldest unneeded file goes
    assert names(cache) == {oldest_queued.name, recent.name}
    assert old.name not in names(cache)
    cache.touch(recent)
    await cache.make_room(7 * KB)  # 6 + 7 > 10: recent goes too, the queued one stays
    assert names(cache) == {oldest_queued.name}
    with pytest.raises(SourceError) as refused:
        await cache.make_room(8 * KB)  # 3 queued + 8 cannot fit
    assert refused.value.code == "cache_full"
    with pytest.raises(SourceError):
        await cache.make_room(11 * KB)  # bigger than the whole cache
    assert names(cache) == {oldest_queued.name}


async def test_a_file_never_queued_goes_when_its_grace_ends_without_queue_changes(
    tmp_path: Path, store: QueueStore
) -> None:
    cache = DownloadCache(
        tmp_path / "cache",
        max_bytes=10 * KB,
        references=store_references(store),
        grace_seconds=3.5,  # longer than the sweep's delay after a queue change
    )
    bus = EventBus()
    cache.watch(bus)
    try:
        lost = put(cache, "lost", KB)
        with cache.hold(lost):
            pass
        bus.publish("queue_update", CHAT, {"length": 0, "titles": [], "loop": "off"})
        await asyncio.sleep(SWEEP_INTERVAL + 1)
        assert lost.exists()  # swept after the change: still in its grace period
        for _ in range(50):  # no change since: the sweep at the grace's end deletes it
            if not lost.exists():
                break
            await asyncio.sleep(0.1)
        assert not lost.exists()
    finally:
        await cache.close()
