"""A group's rows moved to its supergroup's id, on SQLite and PostgreSQL (whose foreign
keys hold at every statement: the new row must exist before anything points at it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.channels import ChannelRepo
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import session_factory
from bot.storage.orm import AuthorizedUser, ChatAssistant
from bot.storage.repos import AuthRepo

OLD, NEW, CHANNEL = -4001, -1004001, -1007007


async def test_settings_links_users_and_assistant_follow_the_new_id(migrated: AsyncEngine) -> None:
    sessions = session_factory(migrated)
    chats, auth = ChatSettingsRepo(sessions), AuthRepo(sessions)
    channels = ChannelRepo(sessions)
    await chats.ensure_chat(OLD, "Club")
    await chats.set_volume(OLD, 70)
    await chats.set_rtmp(OLD, "rtmp://live.example/app", "key-1")
    await chats.ensure_chat(NEW, "Club (supergroup)", "club")  # Telegram's view of it
    await auth.add(OLD, 5, name="Ann")
    await auth.add(OLD, 6, name="Ben")
    await auth.add(NEW, 6, name="Ben")  # already there: not doubled
    await channels.link(
        group_id=OLD, group_title="Club", channel_id=CHANNEL, channel_title="Radio", linked_by=5
    )
    async with sessions() as session:
        session.add(ChatAssistant(chat_id=OLD, assistant="a2"))
        await session.commit()

    assert await chats.move_chat(OLD, NEW) is True

    moved = await chats.get(NEW)
    assert moved.volume == 70
    assert (await chats.rtmp_target(NEW)) is not None
    assert [c.title for c in await chats.list_chats() if c.id in (OLD, NEW)] == [
        "Club (supergroup)"
    ]
    async with sessions() as session:
        users = (
            await session.execute(select(AuthorizedUser.chat_id, AuthorizedUser.user_id))
        ).all()
        assistant = await session.get(ChatAssistant, NEW)
    assert sorted(users) == [(NEW, 5), (NEW, 6)]
    assert assistant is not None
    assert assistant.assistant == "a2"
    channels.forget()
    assert await channels.channel_of(NEW) == CHANNEL
    assert await chats.move_chat(OLD, NEW) is False  # nothing left under the old id
