"""ChatSettingsRepo's cache on a real SQLite file: what is served from memory, and when a
change becomes visible."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.ports import ChatSettings
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.settings_cache import SettingsCache
from tests.support.clock import ManualClock

CHAT = -100123


class Selects:
    """Counts the SELECT statements the engine runs (a cache hit runs none)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'settings.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


def repo_on(
    engine: AsyncEngine, clock: ManualClock, seconds: float = 5, **kw: Any
) -> ChatSettingsRepo:
    return ChatSettingsRepo(session_factory(engine), cache_seconds=seconds, clock=clock, **kw)


async def change_behind_the_repo(engine: AsyncEngine, chat_id: int, volume: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE chats SET volume = :v WHERE id = :id"), {"v": volume, "id": chat_id}
        )


async def test_a_cached_read_does_not_touch_the_database(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock)
    await repo.set_volume(CHAT, 150)
    selects = Selects(engine)
    assert await repo.get(CHAT) == ChatSettings(chat_id=CHAT, volume=150)
    assert selects.take() == 1
    for _ in range(3):
        assert await repo.get(CHAT) == ChatSettings(chat_id=CHAT, volume=150)
    assert selects.take() == 0


async def test_every_setter_makes_its_change_visible_at_once(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock)
    await repo.ensure_chat(CHAT, "group")
    assert await repo.get(CHAT) == ChatSettings(chat_id=CHAT)
    await repo.set_language(CHAT, "uk")
    assert (await repo.get(CHAT)).language == "uk"
    await repo.set_admin_only(CHAT, True)
    assert (await repo.get(CHAT)).admin_only is True
    await repo.set_auto_end_minutes(CHAT, 2)
    assert (await repo.get(CHAT)).auto_end_seconds == 120
    await repo.set_always_on(CHAT, True)
    assert (await repo.get(CHAT)).always_on is True
    await repo.set_playlist(CHAT, ["a", "b"])
    assert (await repo.get(CHAT)).playlist == ("a", "b")
    await repo.set_volume(CHAT, 30)
    assert await repo.get(CHAT) == ChatSettings(
        chat_id=CHAT,
        language="uk",
        admin_only=True,
        auto_end_seconds=120,
        always_on=True,
        playlist=("a", "b"),
        volume=30,
    )
    assert clock.now == 1000.0  # no expiry involved


async def test_a_change_made_elsewhere_shows_after_the_ttl_or_forget(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock, seconds=5)
    await repo.set_volume(CHAT, 150)
    assert (await repo.get(CHAT)).volume == 150
    await change_behind_the_repo(engine, CHAT, 40)
    clock.now += 4.9
    assert (await repo.get(CHAT)).volume == 150  # stale, within the bound
    clock.now += 0.1
    assert (await repo.get(CHAT)).volume == 40
    await change_behind_the_repo(engine, CHAT, 60)
    assert (await repo.get(CHAT)).volume == 40
    repo.forget(CHAT)  # what the admin panel calls after its edit
    assert (await repo.get(CHAT)).volume == 60


async def test_ttl_zero_reads_the_database_every_time(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock, seconds=0)
    await repo.set_volume(CHAT, 150)
    selects = Selects(engine)
    assert (await repo.get(CHAT)).volume == 150
    await change_behind_the_repo(engine, CHAT, 40)
    assert (await repo.get(CHAT)).volume == 40
    assert len(repo.cache) == 0
    assert (await repo.get_many([CHAT, 7])) == {
        CHAT: ChatSettings(chat_id=CHAT, volume=40),
        7: ChatSettings(chat_id=7),
    }
    assert len(repo.cache) == 0
    assert selects.take() == 3  # two gets and one get_many


async def test_the_cache_keeps_the_most_recently_used_entries(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock, cache_entries=2)
    selects = Selects(engine)
    await repo.get(1)
    await repo.get(2)
    await repo.get(1)  # 1 is now the most recent
    await repo.get(3)  # evicts 2
    assert selects.take() == 3
    await repo.get(1)
    await repo.get(3)
    assert selects.take() == 0
    await repo.get(2)
    assert selects.take() == 1
    assert len(repo.cache) == 2


async def test_get_many_reads_in_batches_and_fills_the_cache(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock)
    for chat_id in (1, 600):
        await repo.set_volume(chat_id, chat_id % 200 + 1)
    await repo.get(2)  # already cached: not asked for again
    selects = Selects(engine)
    ids = [*range(1, 702), 1]  # 701 distinct, one repeated
    found = await repo.get_many(ids)
    assert selects.take() == 2  # 700 uncached ids in batches of 500
    assert len(found) == 701
    assert found[1] == ChatSettings(chat_id=1, volume=2)
    assert found[600] == ChatSettings(chat_id=600, volume=1)
    assert found[2] == ChatSettings(chat_id=2)
    assert found[700] == ChatSettings(chat_id=700)
    for chat_id in (1, 350, 600, 701):
        assert await repo.get(chat_id) == found[chat_id]
    assert selects.take() == 0


def test_a_read_that_raced_a_write_is_not_stored() -> None:
    clock = ManualClock(start=1000.0)
    cache = SettingsCache(5, clock=clock)
    began = cache.generation
    cache.forget(CHAT)  # a write committed while the read was in flight
    cache.put(ChatSettings(chat_id=CHAT, volume=1), read_at_generation=began)
    assert cache.get(CHAT) is None
    cache.put(ChatSettings(chat_id=CHAT, volume=2), read_at_generation=cache.generation)
    assert cache.get(CHAT) == ChatSettings(chat_id=CHAT, volume=2)


async def test_concurrent_misses_share_one_read(engine: AsyncEngine, clock: ManualClock) -> None:
    repo = repo_on(engine, clock)
    await repo.set_volume(CHAT, 70)
    selects = Selects(engine)
    results = await asyncio.gather(*(repo.get(CHAT) for _ in range(50)))
    assert results == [ChatSettings(chat_id=CHAT, volume=70)] * 50
    assert selects.take() == 1


async def test_a_write_during_a_read_is_seen_by_later_reads(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    repo = repo_on(engine, clock)
    await repo.set_volume(CHAT, 70)
    early = asyncio.ensure_future(repo.get(CHAT))
    await asyncio.sleep(0)  # the shared read is in flight
    await repo.set_volume(CHAT, 90)
    assert (await repo.get(CHAT)).volume == 90
    assert (await early).volume in (70, 90)  # began before the write: either is right
    assert (await repo.get(CHAT)).volume == 90
