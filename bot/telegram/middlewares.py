"""Outer middlewares besides i18n: remembering the chats the bot works in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject

from bot.telegram.services import ChatSettingsStore

log = logging.getLogger(__name__)


class KnownChats(BaseMiddleware):
    """Records each chat once per process, so /broadcast and the web panel know it."""

    def __init__(self, repo: ChatSettingsStore) -> None:
        self.repo = repo
        self._seen: set[int] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is not None and chat.id not in self._seen:
            try:
                await self.repo.ensure_chat(chat.id, chat.title or chat.full_name or "")
            except Exception:
                # Storage trouble must not block the command; the next update tries again.
                log.warning("could not record chat %s", chat.id, exc_info=True)
            else:
                self._seen.add(chat.id)
        return await handler(event, data)
