"""Recovery reads chat settings in batches (one query for many chats), and still recovers
every chat when the batch read fails."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event

from bot.domain.ports import ChatSettings
from bot.domain.queue import StorageUnavailable
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import session_factory
from tests.domain.conftest import Rig, make_track

VOLUMES = {-1001: 40, -1002: 150, -1003: 100}


class NoBatchReads:
    """A settings source whose batch read is down; single reads still work."""

    def __init__(self, inner: ChatSettingsRepo) -> None:
        self.inner = inner
        self.single_reads = 0

    async def get(self, chat_id: int) -> ChatSettings:
        self.single_reads += 1
        return await self.inner.get(chat_id)

    async def get_many(self, chat_ids: Iterable[int]) -> dict[int, ChatSettings]:
        raise StorageUnavailable("database unavailable: OperationalError")


async def crash_while_playing(rig: Rig) -> None:
    for chat_id, volume in VOLUMES.items():
        if volume != 100:
            await rig.settings.set_volume(chat_id, volume)
        await rig.players.play(chat_id, make_track(f"song {chat_id}"))
    await rig.clock.advance(10)


def settings_queries(rig: Rig) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM chats" in statement:
            seen.append(statement)

    event.listen(rig.database.sync_engine, "before_cursor_execute", record)
    return seen


async def test_recovery_reads_every_chats_settings_in_one_query(rig: Rig) -> None:
    await crash_while_playing(rig)
    rig.settings = ChatSettingsRepo(session_factory(rig.database), cache_seconds=5)
    await rig.boot()
    queries = settings_queries(rig)
    assert await rig.players.recover() == 3
    assert len(queries) == 1
    assert "IN (" in queries[0]
    assert {c: rig.engine.streams[c].volume for c in VOLUMES} == VOLUMES


async def test_recovery_falls_back_to_one_read_per_chat(rig: Rig) -> None:
    await crash_while_playing(rig)
    source = NoBatchReads(ChatSettingsRepo(session_factory(rig.database), cache_seconds=5))
    rig.settings = source  # type: ignore[assignment]
    await rig.boot()
    assert await rig.players.recover() == 3
    assert source.single_reads == 3
    assert {c: rig.engine.streams[c].volume for c in VOLUMES} == VOLUMES
