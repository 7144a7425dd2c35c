"""Commands posted in a channel by its administrators (``channel_post`` updates).

What is trusted: only a channel's administrators allowed to post can post in it, and
Telegram delivers ``channel_post`` updates only for channels the bot administers, so a
command post counts as a controller's.  A post carries no user (``from_user`` is empty;
``sender_chat`` is the channel itself) and ``author_signature`` is a display name anyone
can share, so neither is used to tell administrators apart: every one who may post may
control the channel's stream.  Settings, /auth and /lang are not taken from posts (they
need buttons or a user); those live in the driving group and the admin panel.

No chatter: a command that worked is not answered and its post is deleted when the bot
may delete posts (else it stays).  One that failed (bad input, a refusal, storage down)
keeps its post and gets a one-line reply to it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message, TelegramObject

from bot.telegram.routers.common import CHANNEL_ANSWERS
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


class ChannelPosts(BaseMiddleware):
    """Inner middleware of ``channel_post``: remembers the chat as a channel (so its stream
    never posts cards there) and deletes the command post once it worked."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message):
            return await handler(event, data)
        services: BotServices = data["services"]
        await services.channels.remember(event.chat.id, event.chat.title or "")
        answers: list[str] = []
        token = CHANNEL_ANSWERS.set(answers)
        try:
            result = await handler(event, data)
        finally:
            CHANNEL_ANSWERS.reset(token)
        if not answers:
            try:
                await event.delete()
            except TelegramAPIError as exc:
                log.info("command post %s in %s kept: %s", event.message_id, event.chat.id, exc)
        return result
