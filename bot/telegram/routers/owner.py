"""Owner-only commands: /stats and /broadcast."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.commands import usage
from bot.telegram.formatting import duration
from bot.telegram.permissions import Permissions
from bot.telegram.routers.common import answer_minor, sender_id
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


async def _owner(message: Message, permissions: Permissions) -> bool:
    if permissions.is_owner(sender_id(message)):
        return True
    await answer_minor(message, _("Only the bot's owners can do that."))
    return False


async def stats(message: Message, services: BotServices, permissions: Permissions) -> None:
    if not await _owner(message, permissions):
        return
    s = await services.stats()
    lines = [
        _("Active chats: {count}").format(count=s.active_chats),
        _("Streams: {count}").format(count=s.streams),
        _("Queued tracks: {count}").format(count=sum(s.queued.values())),
        _("Uptime: {uptime}").format(uptime=duration(s.uptime_seconds)),
        _("CPU: {cpu}%, memory: {memory} MB").format(
            cpu=round(s.cpu_percent, 1), memory=round(s.memory_mb, 1)
        ),
    ]
    lines += [f"  {chat_id}: {count}" for chat_id, count in sorted(s.queued.items())]
    await message.answer("\n".join(lines))


async def broadcast(
    message: Message,
    command: CommandObject,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
) -> None:
    if not await _owner(message, permissions):
        return
    text = (command.args or "").strip()
    if not text:
        await answer_minor(message, usage("broadcast"))
        return
    sent = failed = 0
    for chat_id in [chat.id for chat in await services.chat_settings.list_chats()]:
        try:
            await bot.send_message(chat_id, text)
            sent += 1
        except TelegramAPIError as exc:
            failed += 1
            log.info("broadcast to %s failed: %s", chat_id, exc)
    await message.answer(
        _("Broadcast sent to {sent} chats; failed in {failed}.").format(sent=sent, failed=failed)
    )


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="owner")
    router.message.register(stats, Command("stats"))
    router.message.register(broadcast, Command("broadcast"))
    return router
