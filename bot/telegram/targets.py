"""Which chat's stream a command drives, and where that stream's chatter goes.

A group linked to a channel (``/channelplay``) drives the channel's player: its queue,
settings and 24/7 playlist are the channel's; answers, now-playing cards and
announcements go to the group.  A command posted in the channel itself drives the same
player and gets no answer unless it failed (``bot.telegram.routers.common``).  A channel
driven from no group gets no cards at all: a channel's posts reach every subscriber.

``TargetMiddleware`` puts a ``Target`` in every handler's data (as ``target``), so a
handler names the player by ``target.chat_id`` and never by the message's own chat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Chat, InaccessibleMessage, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.telegram.services import BotServices, ChannelStore

GROUP_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


@dataclass(frozen=True, slots=True)
class Target:
    #: the chat whose player, queue, settings and 24/7 playlist the command drives
    chat_id: int
    #: the chat the command or button press came from (where answers go)
    origin_id: int
    #: the command is a post in the channel itself (no answer unless it failed)
    channel_post: bool = False

    @property
    def linked(self) -> bool:
        """A group driving its linked channel."""
        return self.chat_id != self.origin_id


async def shown_in(channels: ChannelStore, chat_id: int) -> int | None:
    """Where the now-playing card and announcements of ``chat_id``'s stream go: the chat
    itself, the group driving it when it is a channel, nowhere for a channel without one."""
    if not await channels.is_channel(chat_id):
        return chat_id
    return await channels.group_of(chat_id)


def _chat(event: TelegramObject) -> Chat | None:
    if isinstance(event, Message):
        return event.chat
    if isinstance(event, CallbackQuery):
        message = event.message
        if message is not None and not isinstance(message, InaccessibleMessage):
            return message.chat
    return None


async def target_of(services: BotServices, chat: Chat) -> Target:
    if chat.type == ChatType.CHANNEL:
        return Target(chat.id, chat.id, channel_post=True)
    if chat.type in GROUP_TYPES:
        channel = await services.channels.channel_of(chat.id)
        if channel is not None:
            return Target(channel, chat.id)
    return Target(chat.id, chat.id)


class TargetMiddleware(BaseMiddleware):
    """Inner middleware (runs only for an update a handler took), before the rights check.

    A message Telegram copied from a channel into its discussion group
    (``is_automatic_forward``) is never a command: the post itself was the command (or just
    content), and acting on the copy would run it twice."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Message) and event.is_automatic_forward:
            return None
        chat = _chat(event)
        if chat is None:
            if isinstance(event, CallbackQuery):  # the button's message is gone
                await event.answer(_("This button has expired."))
                return None
            return await handler(event, data)
        data["target"] = await target_of(data["services"], chat)
        return await handler(event, data)
