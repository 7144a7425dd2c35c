"""Migrations against the models, the engine's SQLite settings, and the repositories."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.models import EndReason, SourceKind, Track
from bot.domain.ports import ChatSettings
from bot.domain.queue import StorageUnavailable
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import (
    alembic_config,
    create_engine,
    migrate,
    pending_migrations,
    session_factory,
)
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.orm import Base
from bot.storage.repos import AuditRepo, AuthRepo, HistoryRepo
from tests.support.clock import ManualClock

CHAT = -1009876543210987
# every revision, oldest first
REVISIONS = [
    r.revision
    for r in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_build_exactly_the_models_schema(engine: AsyncEngine) -> None:
    await migrate(engine)
    await migrate(engine)  # at head already: nothing to do, no error
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        columns = await conn.run_sync(lambda c: inspect(c).get_columns("chats"))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    id_type = next(c["type"] for c in columns if c["name"] == "id")
    assert "BIGINT" in str(id_type).upper()
    assert version == [(REVISIONS[-1],)]


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def test_migrations_downgrade_to_empty_and_up_again(engine: AsyncEngine) -> None:
    await migrate(engine)
    await downgrade(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables == {"alembic_version"}
    await migrate(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            fk = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        assert (fk, mode) == (1, "wal")
    finally:
        await engine.dispose()


async def test_unreachable_databases_raise_storage_unavailable(tmp_path: Path) -> None:
    urls = [
        f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}",
        "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    ]
    for url in urls:
        engine = create_engine(url)
        store = DatabaseQueueStore(engine)
        try:
            with pytest.raises(StorageUnavailable):
                await store.ping()
            with pytest.raises(StorageUnavailable):
                await store.enqueue(1, Track(title="t", source="s", media="m"), limit=5)
            with pytest.raises(StorageUnavailable):
                await ChatSettingsRepo(session_factory(engine)).get(1)
        finally:
            await engine.dispose()


async def test_chat_settings_round_trip(migrated: AsyncEngine) -> None:
    repo = ChatSettingsRepo(session_factory(migrated))
    assert await repo.get(CHAT) == ChatSettings(chat_id=CHAT)
    await repo.ensure_chat(CHAT, "Музыка 🎵")
    await repo.ensure_chat(CHAT, "Музыка 🎵 renamed")
    await repo.ensure_chat(5, "small")
    await repo.set_language(CHAT, "uk")
    await repo.set_admin_only(CHAT, True)
    await repo.set_auto_end_minutes(CHAT, 15)
    await repo.set_always_on(CHAT, True)
    await repo.set_playlist(CHAT, ["https://example.org/a.mp3", "  ", " lofi/ "])
    await repo.set_playlist_video(CHAT, True)
    await repo.set_volume(CHAT, 150)
    assert await repo.get(CHAT) == ChatSettings(
        chat_id=CHAT,
        language="uk",
        admin_only=True,
        auto_end_seconds=900,
        always_on=True,
        playlist=("https://example.org/a.mp3", "lofi/"),
        playlist_video=True,
        volume=150,
    )
    await repo.set_auto_end_minutes(CHAT, 0)
    assert (await repo.get(CHAT)).auto_end_seconds == 0
    await repo.set_auto_end_minutes(CHAT, None)
    await repo.set_language(CHAT, None)
    settings = await repo.get(CHAT)
    assert (settings.auto_end_seconds, settings.language) == (None, None)
    # a setter on an unknown chat creates it with defaults for everything else
    await repo.set_volume(77, 30)
    assert await repo.get(77) == ChatSettings(chat_id=77, volume=30)
    chats = await repo.list_chats()
    assert [(c.id, c.title) for c in chats] == [(CHAT, "Музыка 🎵 renamed"), (5, "small"), (77, "")]
    with pytest.raises(ValueError, match="volume"):
        await repo.set_volume(CHAT, 0)
    with pytest.raises(ValueError, match="locale"):
        await repo.set_language(CHAT, "english-please")
    with pytest.raises(ValueError, match="minutes"):
        await repo.set_auto_end_minutes(CHAT, -1)
    assert (await repo.get(CHAT)).volume == 150


async def test_a_chats_public_username_is_kept_and_dropped_when_it_goes(
    migrated: AsyncEngine,
) -> None:
    repo = ChatSettingsRepo(session_factory(migrated))
    await repo.ensure_chat(CHAT, "Night Radio", "night_radio")
    await repo.ensure_chat(5, "Family")
    assert {c.id: c.username for c in await repo.list_chats()} == {CHAT: "night_radio", 5: None}
    await repo.ensure_chat(CHAT, "Night Radio")  # the chat went private
    assert {c.id: c.username for c in await repo.list_chats()} == {CHAT: None, 5: None}


async def test_authorised_users_round_trip(migrated: AsyncEngine) -> None:
    repo = AuthRepo(session_factory(migrated))
    assert await repo.add(CHAT, 2**40, name="Ann", added_by=1)
    assert not await repo.add(CHAT, 2**40, name="Ann K.")
    assert await repo.add(CHAT, 3, name="Bob")
    assert await repo.add(OTHER_CHAT, 3)
    users = await repo.list_users(CHAT)
    assert [(u.user_id, u.name, u.added_by) for u in users] == [
        (2**40, "Ann K.", 1),
        (3, "Bob", None),
    ]
    assert await repo.is_authorized(CHAT, 3)
    assert await repo.remove(CHAT, 3)
    assert not await repo.remove(CHAT, 3)
    assert not await repo.is_authorized(CHAT, 3)
    assert await repo.is_authorized(OTHER_CHAT, 3)
    assert not await repo.is_authorized(CHAT, 999)


OTHER_CHAT = 4242


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; PostgreSQL aware ones."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def test_play_history_records_starts_and_ends(migrated: AsyncEngine) -> None:
    clock = ManualClock(start=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    repo = HistoryRepo(session_factory(migrated), clock=clock.utc)
    a = Track(
        title="А «песня»",
        source="https://x/a",
        media="/a",
        kind=SourceKind.YTDLP,
        requested_by=2**41,
        requested_by_name="Оля",
    )
    b = Track(title="b", source="https://x/b", media="/b")
    await repo.started(CHAT, a)
    clock.now += 3 * 60
    await repo.ended(CHAT, a, EndReason.FINISHED)
    clock.now += 1
    await repo.started(CHAT, b)
    await repo.ended(OTHER_CHAT, b, EndReason.ERROR)  # never started there: a closed row
    rows = await repo.recent(CHAT)
    assert [(r.title, r.kind, r.requested_by, r.end_reason) for r in rows] == [
        ("b", "url", None, None),
        ("А «песня»", "ytdlp", 2**41, "finished"),
    ]
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [_utc(rows[1].started_at), _utc(rows[1].ended_at)] == [
        start,
        start + timedelta(minutes=3),
    ]
    other = await repo.recent(OTHER_CHAT)
    assert [(r.track_id, r.end_reason) for r in other] == [(b.id, "error")]
    assert len(await repo.recent(CHAT, limit=1)) == 1


async def test_audit_log_keeps_before_and_after_as_json(migrated: AsyncEngine) -> None:
    repo = AuditRepo(session_factory(migrated))
    when = datetime(2026, 5, 1, tzinfo=UTC)
    await repo.record(
        "web:alice", "update", "chat", CHAT, {"volume": 100}, {"volume": 150, "at": when}
    )
    await repo.record("tg:1", "auth_add", "authorized_user", "7", None, {"name": "Оля"})
    first, second = await repo.recent()
    assert (first.actor, first.action, first.entity, first.entity_id) == (
        "tg:1",
        "auth_add",
        "authorized_user",
        "7",
    )
    assert (first.before, json.loads(first.after)) == ("", {"name": "Оля"})
    assert second.entity_id == str(CHAT)
    assert json.loads(second.before) == {"volume": 100}
    assert json.loads(second.after) == {"at": "2026-05-01 00:00:00+00:00", "volume": 150}


async def test_pending_migrations_reports_then_clears(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        assert await pending_migrations(engine) == REVISIONS
        assert REVISIONS[:3] == ["0001", "0002", "0003"]
        await migrate(engine)
        assert await pending_migrations(engine) == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_nodes_starting_at_once_migrate_one_postgres_database(postgres_url: str) -> None:
    """Cluster nodes start together on one fresh database: without the advisory lock two
    of them ran ``CREATE TABLE`` at once and one failed to start."""
    engines = [create_engine(postgres_url) for _ in range(4)]
    try:
        await asyncio.gather(*(migrate(e) for e in engines))
        assert await pending_migrations(engines[0]) == []
    finally:
        for e in engines:
            await e.dispose()


async def test_concurrent_history_writes_all_land_on_sqlite(migrated: AsyncEngine) -> None:
    """Each ``ended`` reads the open row, then writes: as deferred transactions, concurrent
    ones failed with "database is locked" (no busy wait for a read lock's upgrade)."""
    repo = HistoryRepo(session_factory(migrated))
    tracks = [Track(title=f"t{i}", source="s", media="m") for i in range(60)]

    async def play(chat: int, track: Track) -> None:
        await repo.started(chat, track)
        await asyncio.sleep(0)
        await repo.ended(chat, track, EndReason.FINISHED)

    await asyncio.gather(*(play(-i - 1, t) for i, t in enumerate(tracks)))
    rows = [row for i in range(len(tracks)) for row in await repo.recent(-i - 1)]
    assert [(r.track_id, r.end_reason) for r in rows] == [(t.id, "finished") for t in tracks]


async def test_the_sqlite_slot_moves_onto_its_rowid_and_back_keeping_its_rows(
    tmp_path: Path,
) -> None:
    """Migration 0011 rebuilds the slot table on SQLite: the row a crash left there (a
    64-bit negative chat id) must come through both ways."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    slot = "SELECT rowid, chat_id, track_id, position FROM queue_now_playing"
    try:
        await migrate(engine, "0010")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO queue_chats VALUES (:c, 'off', 3)"), {"c": CHAT})
            await conn.execute(
                text("INSERT INTO queue_now_playing VALUES (:c, 't1', '{}', 1.0, 42.5, 2.0, 0)"),
                {"c": CHAT},
            )
        await migrate(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text(slot))).all() == [(CHAT, CHAT, "t1", 42.5)]
            indexes = (await conn.execute(text("PRAGMA index_list(queue_now_playing)"))).all()
        assert indexes == []  # the key is the rowid: no index beside the table
        await downgrade(engine, "0010")
        async with engine.connect() as conn:
            [(rowid, *row)] = (await conn.execute(text(slot))).all()
            indexes = (await conn.execute(text("PRAGMA index_list(queue_now_playing)"))).all()
        assert row == [CHAT, "t1", 42.5]
        assert rowid != CHAT
        assert len(indexes) == 1
    finally:
        await engine.dispose()
