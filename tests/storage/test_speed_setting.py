"""chats.speed (migration 0009): stored per chat, defaults to 1.0 for chats that existed
before it, and refuses what the player would refuse -- on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import alembic_config, migrate, session_factory

CHAT = -1004242424242


async def test_speed_is_kept_per_chat_and_checked(engine: AsyncEngine) -> None:
    await migrate(engine)
    repo = ChatSettingsRepo(session_factory(engine))
    assert (await repo.get(CHAT)).speed == 1.0
    await repo.ensure_chat(CHAT, "group")
    await repo.set_speed(CHAT, 1.25)
    await repo.set_volume(CHAT, 90)  # another setter leaves it alone
    assert (await repo.get(CHAT)).speed == 1.25
    assert (await repo.get_many([CHAT, 5]))[CHAT].speed == 1.25
    # a new repository (a restarted process) reads it back
    assert (await ChatSettingsRepo(session_factory(engine)).get(CHAT)).speed == 1.25
    for bad in (0.0, 0.3, 2.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="speed"):
            await repo.set_speed(CHAT, bad)
    assert (await repo.get(CHAT)).speed == 1.25


async def test_chats_from_before_0009_play_at_normal_speed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: _upgrade(sync, "0008"))
        await conn.execute(
            text(
                "INSERT INTO chats (id, title, admin_only, always_on, playlist, volume, "
                "rtmp_url, rtmp_key, created_at, updated_at) "
                "VALUES (:id, 'old', false, false, '', 100, '', '', :now, :now)"
            ),
            {"id": CHAT, "now": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    await migrate(engine)
    assert (await ChatSettingsRepo(session_factory(engine)).get(CHAT)).speed == 1.0
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: _downgrade(sync, "0008"))
        columns = await conn.run_sync(lambda sync: _columns(sync))
    assert "speed" not in columns


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _columns(connection: Connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("chats")}
