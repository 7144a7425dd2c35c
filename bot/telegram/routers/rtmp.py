"""/rtmp: a chat's RTMP stream target (URL + stream key), set in a private message.

The stream key is a secret: it is only accepted in a private chat with the bot (asked in a
group, the bot explains and stores nothing), the message carrying it is deleted once read,
and no answer, log line or audit row ever repeats it.  Only an administrator of the target
chat with the right to manage video chats (asked of the Bot API, never taken from the
message) or an owner may set or clear it.  Once set, the chat streams through the RTMP
engine from its next start; ``off`` returns it to the process's engine.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.permissions import Permissions
from bot.telegram.routers.common import sender_id
from bot.telegram.services import BotServices

log = logging.getLogger(__name__)

MAX_URL = 512
MAX_KEY = 256


def rtmp_usage() -> str:
    return _(
        "Usage (in a private message to me): /rtmp <chat id or @channel> <rtmp(s) URL> "
        "<stream key>, or /rtmp <chat id or @channel> off."
    )


def valid_rtmp_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("rtmp", "rtmps") and bool(parts.hostname) and len(url) <= MAX_URL


async def resolve_chat(bot: Bot, ref: str) -> tuple[int, str] | None:
    """A chat id or @username as (id, title); None when the bot cannot see that chat."""
    target: int | str = int(ref) if ref.lstrip("-").isdecimal() else ref
    if isinstance(target, str) and not target.startswith("@"):
        return None
    try:
        chat = await bot.get_chat(target)
    except TelegramAPIError:
        return None
    return chat.id, chat.title or chat.username or str(chat.id)


async def may_stream(bot: Bot, permissions: Permissions, chat_id: int, user_id: int) -> bool:
    """An owner, or an administrator of ``chat_id`` who may manage its video chats."""
    if permissions.is_owner(user_id):
        return True
    return (await permissions.cache.rights(bot, chat_id, user_id)).can_manage_voice


async def rtmp(
    message: Message,
    command: CommandObject,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
) -> None:
    if message.chat.type != ChatType.PRIVATE:
        await message.answer(
            _("Send /rtmp to me in a private message: the stream key is a secret.")
        )
        return
    parts = (command.args or "").split()
    if len(parts) not in (2, 3) or (len(parts) == 2 and parts[1].lower() != "off"):
        await message.answer(rtmp_usage())
        return
    if len(parts) == 3:
        await _forget_message(message)  # it carries the key
    found = await resolve_chat(bot, parts[0])
    if found is None:
        await message.answer(_("I cannot find that chat; add me to it first."))
        return
    chat_id, title = found
    user_id = sender_id(message)
    if not await may_stream(bot, permissions, chat_id, user_id):
        await message.answer(
            _("Only administrators of that chat who can manage video chats can do that.")
        )
        return
    repo = services.chat_settings
    if len(parts) == 2:
        await repo.clear_rtmp(chat_id)
        await services.audit.record(
            f"tg:{user_id}", "chat.rtmp", "chat", str(chat_id), None, {"engine": None}
        )
        await message.answer(
            _("RTMP streaming is off for {chat}; it uses the voice chat again.").format(chat=title)
        )
        return
    url, key = parts[1], parts[2]
    if not valid_rtmp_url(url) or not 0 < len(key) <= MAX_KEY:
        await message.answer(rtmp_usage())
        return
    await repo.set_rtmp(chat_id, url, key)
    await services.audit.record(
        f"tg:{user_id}",
        "chat.rtmp",
        "chat",
        str(chat_id),
        None,
        {"engine": "rtmp", "rtmp_url": url, "rtmp_key": "(set)"},
    )
    await message.answer(
        _(
            "{chat} now streams to {url} from its next start. "
            "The key is saved and will not be shown again."
        ).format(chat=title, url=url)
    )


async def _forget_message(message: Message) -> None:
    try:
        await message.delete()
    except TelegramAPIError as exc:
        log.info("could not delete a message carrying a stream key: %s", exc.message)


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="rtmp")
    router.message.register(rtmp, Command("rtmp"))
    return router
