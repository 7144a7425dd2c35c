"""Outer middlewares besides i18n: remembering the chats the bot works in."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import Command
from aiogram.types import Chat, Message, TelegramObject

from bot.metrics import COMMAND_SECONDS
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
                await self.repo.ensure_chat(
                    chat.id, chat.title or chat.full_name or "", chat.username
                )
            except Exception:
                # Storage trouble must not block the command; the next update tries again.
                log.warning("could not record chat %s", chat.id, exc_info=True)
            else:
                self._seen.add(chat.id)
        return await handler(event, data)


def registered_commands(router: Router) -> frozenset[str]:
    """The command names the routers answer, read from their ``Command`` filters, so the
    latency metric's label set follows the handlers without a list to keep in step."""
    names: set[str] = set()
    for each in router.chain_tail:
        for handler in [*each.message.handlers, *each.channel_post.handlers]:
            for flt in handler.filters or ():
                if isinstance(flt.callback, Command):
                    names.update(c for c in flt.callback.commands if isinstance(c, str))
    return frozenset(names)


class CommandTimer(BaseMiddleware):
    """Observes how long each command takes, labelled by a name from a fixed set (the
    registered commands, else "other"): a label taken from the text would let any member
    mint series."""

    def __init__(self, commands: frozenset[str]) -> None:
        self.commands = commands

    def label(self, text: str | None) -> str | None:
        if not text or not text.startswith("/"):
            return None
        name = text.split(maxsplit=1)[0][1:].split("@", 1)[0].casefold()
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
            COMMAND_SECONDS.labels(label).observe(time.perf_counter() - started)
