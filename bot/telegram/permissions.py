"""Who may do what, decided on the server for every command and every button press.

- playback controls: chat administrators who can manage voice chats, users authorised in
  that chat (AuthRepo), and owners (``telegram.owners``);
- /settings and /auth: chat administrators and owners;
- /play: everyone, unless the chat is in admin-only mode (then as playback controls).

In a group linked to a channel (``/channelplay``) the same people decide, and so do the
channel's administrators: with the right to manage video chats for playback controls,
any of them for the settings.  Admin-only mode is then the channel's setting.

getChatAdministrators answers are cached for a short TTL and dropped on ``chat_member``
updates, so a promotion or demotion takes effect at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner

from bot.telegram.services import BotServices

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdminRights:
    is_admin: bool
    can_manage_voice: bool


NOT_ADMIN = AdminRights(is_admin=False, can_manage_voice=False)


class AdminCache:
    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[int, tuple[float, dict[int, AdminRights]]] = {}

    def invalidate(self, chat_id: int) -> None:
        self._entries.pop(chat_id, None)

    async def rights(self, bot: Bot, chat_id: int, user_id: int) -> AdminRights:
        return (await self._admins(bot, chat_id)).get(user_id, NOT_ADMIN)

    async def _admins(self, bot: Bot, chat_id: int) -> dict[int, AdminRights]:
        entry = self._entries.get(chat_id)
        now = self._clock()
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        try:
            members = await bot.get_chat_administrators(chat_id)
        except TelegramAPIError as exc:
            # Without the list nobody counts as an admin; owners and authorised users still do.
            log.warning("getChatAdministrators failed for %s: %s", chat_id, exc)
            return {}
        admins: dict[int, AdminRights] = {}
        for member in members:
            if isinstance(member, ChatMemberOwner):
                admins[member.user.id] = AdminRights(True, True)
            elif isinstance(member, ChatMemberAdministrator):
                admins[member.user.id] = AdminRights(True, member.can_manage_video_chats)
        self._entries[chat_id] = (now, admins)
        return admins


class Permissions:
    def __init__(self, services: BotServices, cache: AdminCache | None = None) -> None:
        self.services = services
        self.cache = cache or AdminCache()

    def is_owner(self, user_id: int) -> bool:
        return user_id in self.services.owners

    async def can_control(
        self, bot: Bot, chat_id: int, user_id: int, channel: int | None = None
    ) -> bool:
        """``channel``: the channel ``chat_id`` (a group) is linked to."""
        if self.is_owner(user_id) or chat_id == user_id:
            return True
        if (await self.cache.rights(bot, chat_id, user_id)).can_manage_voice:
            return True
        if await self.services.auth.is_authorized(chat_id, user_id):
            return True
        return (
            channel is not None
            and user_id != 0
            and (await self.cache.rights(bot, channel, user_id)).can_manage_voice
        )

    async def can_configure(
        self, bot: Bot, chat_id: int, user_id: int, channel: int | None = None
    ) -> bool:
        if self.is_owner(user_id) or chat_id == user_id:
            return True
        if (await self.cache.rights(bot, chat_id, user_id)).is_admin:
            return True
        return (
            channel is not None
            and user_id != 0
            and (await self.cache.rights(bot, channel, user_id)).is_admin
        )

    async def can_play(
        self, bot: Bot, chat_id: int, user_id: int, channel: int | None = None
    ) -> bool:
        settings = await self.services.chat_settings.get(channel or chat_id)
        if not settings.admin_only:
            return True
        return await self.can_control(bot, chat_id, user_id, channel)
