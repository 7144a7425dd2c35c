"""Channels Sattva streams into, and the group whose commands drive each (``channels``).

Every group command asks "is this group linked to a channel?", and every now-playing card
asks "is this chat a channel, and which group shows its cards?", so the whole table is
held in memory as one snapshot, reloaded when older than ``cache_seconds`` (the chat
settings' TTL; 0 reads it every time).  The bot's own writes and the admin panel
(``forget``) replace the snapshot at once; writes made elsewhere show within the TTL.
The table stays small: one row per channel the bot was ever told about.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.database import insert_for
from bot.storage.orm import Channel, utcnow
from bot.storage.repos import MAX_TITLE, Repo


@dataclass(frozen=True, slots=True)
class Links:
    """One reading of the table: channel -> its group (None: driven from no group)."""

    groups: dict[int, int | None]

    def channel_of(self, group_id: int) -> int | None:
        return next((c for c, g in self.groups.items() if g == group_id), None)


@dataclass(frozen=True, slots=True)
class Linked:
    """What ``link`` changed: the group that drove the channel before (told it no longer
    does) and the channel the group drove before (now driven from no group)."""

    previous_group: int | None
    previous_channel: int | None


class ChannelRepo(Repo):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(sessions)
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._snapshot: tuple[float, Links] | None = None
        self._loading: asyncio.Lock = asyncio.Lock()

    def forget(self) -> None:
        """Edits made outside this repository (the admin panel) show at the next read."""
        self._snapshot = None

    async def links(self) -> Links:
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - snapshot[0] < self.cache_seconds:
            return snapshot[1]
        async with self._loading:  # a burst of commands after expiry reads the table once
            snapshot = self._snapshot
            if snapshot is not None and self._clock() - snapshot[0] < self.cache_seconds:
                return snapshot[1]
            async with self._transaction() as session:
                rows = (await session.execute(select(Channel.channel_id, Channel.group_id))).all()
            links = Links({int(c): None if g is None else int(g) for c, g in rows})
            self._snapshot = (self._clock(), links)
            return links

    async def channel_of(self, group_id: int) -> int | None:
        return (await self.links()).channel_of(group_id)

    async def group_of(self, channel_id: int) -> int | None:
        return (await self.links()).groups.get(channel_id)

    async def is_channel(self, chat_id: int) -> bool:
        return chat_id in (await self.links()).groups

    async def remember(self, channel_id: int, title: str) -> None:
        """Records a chat as a channel (its administrators posted a command in it)."""
        if await self.is_channel(channel_id):
            return
        try:
            async with self._transaction(write=True) as session:
                await self._upsert_chat(session, channel_id, title=title[:MAX_TITLE])
                insert = insert_for(session.get_bind().dialect.name)
                await session.execute(
                    insert(Channel).values(channel_id=channel_id).on_conflict_do_nothing()
                )
        finally:
            self.forget()

    async def link(
        self,
        *,
        group_id: int,
        group_title: str,
        channel_id: int,
        channel_title: str,
        linked_by: int,
    ) -> Linked:
        """Makes ``group_id`` drive ``channel_id``: the channel's former group and the
        group's former channel are unlinked, in the same transaction."""
        before = await self.links()
        try:
            async with self._transaction(write=True) as session:
                await self._upsert_chat(session, group_id, title=group_title[:MAX_TITLE])
                await self._upsert_chat(session, channel_id, title=channel_title[:MAX_TITLE])
                # the unique group_id: free it before it is given to this channel
                await session.execute(
                    update(Channel)
                    .where(Channel.group_id == group_id, Channel.channel_id != channel_id)
                    .values(group_id=None, linked_by=None, linked_at=None)
                )
                insert = insert_for(session.get_bind().dialect.name)
                values = {"group_id": group_id, "linked_by": linked_by, "linked_at": utcnow()}
                await session.execute(
                    insert(Channel)
                    .values(channel_id=channel_id, **values)
                    .on_conflict_do_update(index_elements=["channel_id"], set_=values)
                )
        finally:
            self.forget()
        previous_group = before.groups.get(channel_id)
        previous_channel = before.channel_of(group_id)
        return Linked(
            previous_group=None if previous_group == group_id else previous_group,
            previous_channel=None if previous_channel == channel_id else previous_channel,
        )

    async def unlink_group(self, group_id: int) -> int | None:
        """The channel ``group_id`` drove (now driven from no group), or None."""
        try:
            async with self._transaction(write=True) as session:
                channel = await session.scalar(
                    select(Channel.channel_id).where(Channel.group_id == group_id)
                )
                if channel is not None:
                    await self._clear_group(session, channel)
        finally:
            self.forget()
        return channel

    async def unlink_channel(self, channel_id: int) -> int | None:
        """The group that drove ``channel_id`` (no longer), or None."""
        try:
            async with self._transaction(write=True) as session:
                group = await session.scalar(
                    select(Channel.group_id).where(Channel.channel_id == channel_id)
                )
                if group is not None:
                    await self._clear_group(session, channel_id)
        finally:
            self.forget()
        return group

    @staticmethod
    async def _clear_group(session: AsyncSession, channel_id: int) -> None:
        await session.execute(
            update(Channel)
            .where(Channel.channel_id == channel_id)
            .values(group_id=None, linked_by=None, linked_at=None)
        )
