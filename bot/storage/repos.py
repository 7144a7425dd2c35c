"""Small repositories over the session factory: authorised users, play history and the
audit log, and the base they and the chat settings' (``bot.storage.chat_settings``) share.

Each method is one short transaction, so nothing holds a database lock across an await
on Telegram.  Connection failures surface as ``StorageUnavailable`` like the queue store's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.domain.models import EndReason, Track
from bot.storage.database import (
    SQLITE_IMMEDIATE,
    insert_for,
    unavailable_as_storage_error,
    writer_turn,
)
from bot.storage.orm import AuditLog, AuthorizedUser, Chat, PlayHistory, utcnow

MAX_TITLE = 256


class Repo:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._bind = sessions.kw.get("bind")

    def _writer_turn(self) -> contextlib.AbstractAsyncContextManager[object]:
        if not isinstance(self._bind, AsyncEngine):
            return contextlib.nullcontext()
        return writer_turn(self._bind)

    @asynccontextmanager
    async def _transaction(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """``write``: on SQLite, take the write lock at BEGIN.  A deferred transaction that
        reads and then writes cannot wait for the lock (SQLite answers "database is locked"
        at once, whatever the busy timeout, when another writer committed since its read),
        so concurrent history rows failed under load."""
        with unavailable_as_storage_error():
            async with (
                self._writer_turn() if write else contextlib.nullcontext(),
                self._sessions() as session,
                session.begin(),
            ):
                if write:
                    await session.connection(execution_options={SQLITE_IMMEDIATE: True})
                yield session

    @staticmethod
    async def _upsert_chat(session: AsyncSession, chat_id: int, **values: Any) -> None:
        """Creates the chat's row or updates ``values`` on it, in one statement (two tasks
        touching a new chat at once must not collide on the primary key)."""
        insert = insert_for(session.get_bind().dialect.name)
        now = utcnow()
        statement = insert(Chat).values(
            id=chat_id,
            title="",
            admin_only=False,
            always_on=False,
            playlist_video=False,
            playlist="",
            volume=100,
            speed=1.0,
            rtmp_url="",
            rtmp_key="",
            created_at=now,
            updated_at=now,
        )
        statement = statement.values(**values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"], set_={**values, "updated_at": now}
            )
        )


class AuthRepo(Repo):
    """Users a chat's admins allowed to control playback there."""

    async def add(
        self, chat_id: int, user_id: int, *, name: str = "", added_by: int | None = None
    ) -> bool:
        """False when the user was already authorised (the name is refreshed then)."""
        try:
            return await self._add(chat_id, user_id, name, added_by)
        except IntegrityError:  # the same user added by two admins at the same moment
            return False

    async def _add(self, chat_id: int, user_id: int, name: str, added_by: int | None) -> bool:
        async with self._transaction(write=True) as session:
            await self._upsert_chat(session, chat_id)
            existing = await session.scalar(
                select(AuthorizedUser).where(
                    AuthorizedUser.chat_id == chat_id, AuthorizedUser.user_id == user_id
                )
            )
            if existing is not None:
                if name:
                    existing.name = name[:MAX_TITLE]
                return False
            session.add(
                AuthorizedUser(
                    chat_id=chat_id, user_id=user_id, name=name[:MAX_TITLE], added_by=added_by
                )
            )
            return True

    async def remove(self, chat_id: int, user_id: int) -> bool:
        async with self._transaction(write=True) as session:
            result = await session.execute(
                delete(AuthorizedUser).where(
                    AuthorizedUser.chat_id == chat_id, AuthorizedUser.user_id == user_id
                )
            )
            return bool(getattr(result, "rowcount", 0))

    async def list_users(self, chat_id: int) -> list[AuthorizedUser]:
        async with self._transaction() as session:
            rows = await session.scalars(
                select(AuthorizedUser)
                .where(AuthorizedUser.chat_id == chat_id)
                .order_by(AuthorizedUser.created_at, AuthorizedUser.id)
            )
            return list(rows.all())

    async def is_authorized(self, chat_id: int, user_id: int) -> bool:
        async with self._transaction() as session:
            found = await session.scalar(
                select(AuthorizedUser.id).where(
                    AuthorizedUser.chat_id == chat_id, AuthorizedUser.user_id == user_id
                )
            )
            return found is not None


class HistoryRepo(Repo):
    """``PlayHistorySink``: one row per play, closed with its end reason."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(sessions)
        self._clock = clock

    async def started(self, chat_id: int, track: Track) -> None:
        async with self._transaction(write=True) as session:
            session.add(self._row(chat_id, track))

    async def ended(self, chat_id: int, track: Track, reason: EndReason) -> None:
        """Closes the play's open row; records a closed row if none is open (a play that
        began before a crash, or whose start was never recorded)."""
        now = self._clock()
        async with self._transaction(write=True) as session:
            open_row = await session.scalar(
                select(PlayHistory.id)
                .where(
                    PlayHistory.chat_id == chat_id,
                    PlayHistory.track_id == track.id,
                    PlayHistory.ended_at.is_(None),
                )
                .order_by(PlayHistory.id.desc())
                .limit(1)
            )
            if open_row is None:
                row = self._row(chat_id, track)
                row.ended_at, row.end_reason = now, reason.value
                session.add(row)
                return
            await session.execute(
                update(PlayHistory)
                .where(PlayHistory.id == open_row)
                .values(ended_at=now, end_reason=reason.value)
            )

    async def recent(self, chat_id: int, limit: int = 20) -> list[PlayHistory]:
        """Newest first."""
        async with self._transaction() as session:
            rows = await session.scalars(
                select(PlayHistory)
                .where(PlayHistory.chat_id == chat_id)
                .order_by(PlayHistory.started_at.desc(), PlayHistory.id.desc())
                .limit(limit)
            )
            return list(rows.all())

    def _row(self, chat_id: int, track: Track) -> PlayHistory:
        return PlayHistory(
            chat_id=chat_id,
            track_id=track.id,
            title=track.title,
            source=track.source,
            kind=track.kind.value,
            requested_by=track.requested_by,
            requested_by_name=track.requested_by_name[:MAX_TITLE],
            started_at=self._clock(),
        )


def _json(value: dict[str, Any] | None) -> str:
    if value is None:
        return ""
    # default=str: datetimes and enums in a snapshot are kept readable, never refused
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class AuditRepo(Repo):
    """Who changed what, with the entity's state before and after, as JSON."""

    async def record(
        self,
        actor: str,
        action: str,
        entity: str,
        entity_id: str | int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        async with self._transaction(write=True) as session:
            session.add(
                AuditLog(
                    at=utcnow(),
                    actor=actor[:128],
                    action=action[:64],
                    entity=entity[:64],
                    entity_id=str(entity_id)[:64],
                    before=_json(before),
                    after=_json(after),
                )
            )

    async def recent(self, limit: int = 50) -> list[AuditLog]:
        """Newest first."""
        async with self._transaction() as session:
            rows = await session.scalars(
                select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
            )
            return list(rows.all())
