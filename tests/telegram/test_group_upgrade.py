"""A group upgraded to a supergroup (a new chat id, said by a ``migrate_to_chat_id`` service
message): its settings, linked channel, authorized users, assistant and queue follow it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.database import create_engine, session_factory
from bot.storage.orm import Chat, ChatAssistant
from tests.support.bot_rig import BotRig
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER
from tests.telegram.test_commands import queue_songs

NEW = -1009876543210
CHANNEL = -1005550001


@asynccontextmanager
async def database(rig: BotRig) -> AsyncIterator[AsyncSession]:
    engine = create_engine(rig.settings.storage.database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def test_the_upgraded_group_keeps_everything_under_its_new_id(
    fed: BotRig, media: MediaServer
) -> None:
    rig = fed
    services = rig.services
    await services.chat_settings.ensure_chat(GROUP, "Old Group")
    await services.chat_settings.set_video_quality(GROUP, "480p")
    await services.chat_settings.set_admin_only(GROUP, True)
    await services.auth.add(GROUP, MEMBER["id"], name="Bob")
    await services.channels.link(
        group_id=GROUP,
        group_title="Old Group",
        channel_id=CHANNEL,
        channel_title="Radio",
        linked_by=ADMIN["id"],
    )
    async with database(rig) as session:
        session.add(ChatAssistant(chat_id=GROUP, assistant="main"))
        await session.commit()
    await queue_songs(rig, media, "a", "b")

    await rig.feed(rig.updates.message(GROUP, ADMIN, migrate_to_chat_id=NEW))

    settings = await services.chat_settings.get(NEW)
    assert (settings.video_quality, settings.admin_only) == ("480p", True)
    assert await services.auth.is_authorized(NEW, MEMBER["id"])
    assert await services.channels.channel_of(NEW) == CHANNEL
    assert await services.channels.channel_of(GROUP) is None
    async with database(rig) as session:
        assert await session.get(ChatAssistant, NEW) is not None
        assert await session.get(ChatAssistant, GROUP) is None
        ids = set((await session.scalars(select(Chat.id))).all())
    assert NEW in ids
    assert GROUP not in ids
    # the queue plays on in the new chat, from its first track; the old one is empty
    moved = await rig.players.snapshot(NEW)
    assert moved.now is not None
    assert [moved.now.track.title, *(t.title for t in moved.pending)] == [
        "Song Alpha",
        "Song Beta",
    ]
    old = await rig.players.snapshot(GROUP)
    assert old.now is None
    assert not old.pending
    assert rig.engine.active_chats() == [NEW]


async def test_an_upgrade_of_a_group_sattva_never_served_changes_nothing(fed: BotRig) -> None:
    await fed.feed(fed.updates.message(GROUP, ADMIN, migrate_to_chat_id=NEW))
    assert (await fed.players.snapshot(NEW)).now is None
    assert await fed.services.chat_settings.move_chat(GROUP, NEW) is False
