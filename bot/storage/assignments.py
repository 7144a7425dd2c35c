"""The chat -> assistant assignment of the assistant pool, in the database.

The database is the arbiter so that a restart (or, in a cluster, another process) sees the
same assignment: ``claim`` inserts only when the chat has none yet and returns whatever is
stored (first writer wins), and ``move`` rewrites a row only while it still names the
account being left, so two movers cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, update

from bot.storage.database import insert_for
from bot.storage.orm import ChatAssistant, utcnow
from bot.storage.repos import Repo


class AssignmentRepo(Repo):
    async def get(self, chat_id: int) -> str | None:
        async with self._transaction() as session:
            row = await session.get(ChatAssistant, chat_id)
            return None if row is None else row.assistant

    async def claim(self, chat_id: int, assistant: str) -> str:
        """Assigns ``assistant`` unless the chat has one; returns the stored assignment."""
        async with self._transaction(write=True) as session:
            insert = insert_for(session.get_bind().dialect.name)
            await session.execute(
                insert(ChatAssistant)
                .values(chat_id=chat_id, assistant=assistant, assigned_at=utcnow())
                .on_conflict_do_nothing(index_elements=["chat_id"])
            )
            stored = await session.scalar(
                select(ChatAssistant.assistant).where(ChatAssistant.chat_id == chat_id)
            )
        assert stored is not None
        return stored

    async def move(self, chat_id: int, old: str, new: str) -> bool:
        """Re-assigns the chat from ``old`` to ``new``; False when it no longer names ``old``."""
        async with self._transaction(write=True) as session:
            result = await session.execute(
                update(ChatAssistant)
                .where(ChatAssistant.chat_id == chat_id, ChatAssistant.assistant == old)
                .values(assistant=new, assigned_at=utcnow())
            )
            return bool(getattr(result, "rowcount", 0))

    async def release(self, chat_ids: Iterable[int], assistant: str) -> int:
        """Drops assignments that still name ``assistant`` (the account left those chats)."""
        ids = list(chat_ids)
        if not ids:
            return 0
        async with self._transaction(write=True) as session:
            result = await session.execute(
                delete(ChatAssistant).where(
                    ChatAssistant.chat_id.in_(ids), ChatAssistant.assistant == assistant
                )
            )
            return int(getattr(result, "rowcount", 0))

    async def chats_of(self, assistant: str) -> list[int]:
        async with self._transaction() as session:
            rows = await session.scalars(
                select(ChatAssistant.chat_id).where(ChatAssistant.assistant == assistant)
            )
            return list(rows)

    async def of_chats(self, chat_ids: Sequence[int]) -> dict[int, str]:
        """The assistant of each listed chat that has one (the dashboard's cluster view)."""
        found: dict[int, str] = {}
        ids = list(chat_ids)
        async with self._transaction() as session:
            for i in range(0, len(ids), 500):  # bound the IN list
                rows = await session.execute(
                    select(ChatAssistant.chat_id, ChatAssistant.assistant).where(
                        ChatAssistant.chat_id.in_(ids[i : i + 500])
                    )
                )
                for chat_id, name in rows.all():
                    found[chat_id] = name
        return found

    async def counts(self) -> dict[str, int]:
        """Assigned chats per assistant (the pool's tie-breaker after live streams)."""
        async with self._transaction() as session:
            rows = await session.execute(
                select(ChatAssistant.assistant, func.count()).group_by(ChatAssistant.assistant)
            )
            return {name: int(n) for name, n in rows.all()}
