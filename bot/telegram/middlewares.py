"""Outer middlewares besides i18n: remembering the chats the bot works in."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, Message, TelegramObject

from bot.metrics import COMMAND_SECONDS, child
from bot.telegram.gates import command_name
from bot.telegram.services import ChatSettingsStore

log = logging.getLogger(__name__)


class KnownChats(BaseMiddleware):
    """Records each chat once per process, so /broadcast and the web panel know it.

    A chat counts as recorded from the moment its first write starts: the updates that
    arrive with it (a burst from a new group, a hundred in one getUpdates answer) would
    otherwise each write the same row, one after another on SQLite's single writer."""

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
            self._seen.add(chat.id)
            try:
                await self.repo.ensure_chat(
                    chat.id, chat.title or chat.full_name or "", chat.username
                )
            except Exception:
                # Storage trouble must not block the command; the next update tries again.
                self._seen.discard(chat.id)
                log.warning("could not record chat %s", chat.id, exc_info=True)
        return await handler(event, data)


class CommandTimer(BaseMiddleware):
    """Observes how long each command takes, labelled by a name from a fixed set (the
    registered commands, else "other"): a label taken from the text would let any member
    mint series."""

    def __init__(self, commands: frozenset[str]) -> None:
        self.commands = commands

    def label(self, text: str | None) -> str | None:
        name = command_name(text)
        if name is None:
            return None
        return name if name in self.commands else "other"

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        label = self.label(event.text) if isinstance(event, Message) else None
        if label is None:
            return await handler(event, data)
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            child(COMMAND_SECONDS, label).observe(time.perf_counter() - started)
