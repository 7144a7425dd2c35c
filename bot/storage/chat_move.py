"""A group upgraded to a supergroup gets a new chat id (Telegram tells the bot with a
service message, ``migrate_to_chat_id``), and the old id stops working.  What Sattva keeps
by chat id follows the group, in one transaction: its settings row (the new chat keeps the
title and @username Telegram gives it), the channel it drives, the users its admins
authorized and its assistant account.  Play history stays under the old id: it happened
there.  The queue is moved by the caller, through the players (it lives in the queue store).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.orm import AuthorizedUser, Channel, Chat, ChatAssistant

#: what the new chat's own row keeps when it has one (Telegram's view of the new chat)
NEW_CHAT_OWNS = frozenset({"id", "title", "username", "created_at"})


async def move_chat_rows(session: AsyncSession, old: int, new: int) -> bool:
    """Moves ``old``'s rows to ``new``; False when the old chat left no settings."""
    row = await session.get(Chat, old)
    if row is not None:
        settings = {
            column.key: getattr(row, column.key)
            for column in Chat.__table__.columns
            if column.key not in NEW_CHAT_OWNS
        }
        target = await session.get(Chat, new)
        if target is None:
            keep = {"title": row.title, "username": row.username, "created_at": row.created_at}
            session.add(Chat(id=new, **keep, **settings))
        else:
            for key, value in settings.items():
                setattr(target, key, value)
        await session.flush()  # the new row exists before anything points at it
    await session.execute(update(Channel).where(Channel.group_id == old).values(group_id=new))
    already = select(AuthorizedUser.user_id).where(AuthorizedUser.chat_id == new)
    await session.execute(
        update(AuthorizedUser)
        .where(AuthorizedUser.chat_id == old, AuthorizedUser.user_id.not_in(already))
        .values(chat_id=new)
    )
    if await session.get(ChatAssistant, new) is None:
        await session.execute(
            update(ChatAssistant).where(ChatAssistant.chat_id == old).values(chat_id=new)
        )
    if row is not None:
        await session.delete(row)  # its remaining authorized users go with it (cascade)
    return row is not None
