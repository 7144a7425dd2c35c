"""Who may run a handler, declared where it is registered and enforced in one middleware.

A handler registered with ``flags=needs(Need.CONTROL)`` runs only for playback controllers;
everyone else gets the one refusal sentence for that right (a message answer, or an alert
for a button), and the handler never sees the update.  ``RightsMiddleware`` is installed
once on the dispatcher and covers every router under it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, InaccessibleMessage, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.telegram.permissions import Permissions
from bot.telegram.targets import Target
from bot.telegram.throttle import minor_answer

FLAG = "rights"


class Need(StrEnum):
    #: /play in an admin-only chat, and every playback control
    PLAY = "play"
    #: skip, pause, seek, queue edits...: controllers (see ``Permissions.can_control``)
    CONTROL = "control"
    #: /settings, /auth, /lang: chat administrators and owners
    CONFIGURE = "configure"
    #: /stats, /broadcast: the bot's owners
    OWNER = "owner"


def needs(right: Need) -> dict[str, Any]:
    """The ``flags`` argument of ``register`` for a handler that needs ``right``."""
    return {FLAG: right}


def refusal(right: Need) -> str:
    texts = {
        Need.PLAY: _("This chat is in admin-only mode: only admins can add tracks."),
        Need.CONTROL: _("Only admins who can manage voice chats and authorised users can do that."),
        Need.CONFIGURE: _("Only chat administrators can do that."),
        Need.OWNER: _("Only the bot's owners can do that."),
    }
    return texts[right]


async def allowed(
    permissions: Permissions,
    right: Need,
    bot: Bot,
    chat_id: int,
    user_id: int,
    channel: int | None = None,
) -> bool:
    """``channel``: the channel ``chat_id`` is linked to (its administrators count too)."""
    if right is Need.PLAY:
        return await permissions.can_play(bot, chat_id, user_id, channel)
    if right is Need.CONTROL:
        return await permissions.can_control(bot, chat_id, user_id, channel)
    if right is Need.CONFIGURE:
        return await permissions.can_configure(bot, chat_id, user_id, channel)
    return permissions.is_owner(user_id)


def _who(event: TelegramObject) -> tuple[int, int] | None:
    """(chat, user) of a message or a button press; None when the chat is unknown (the
    button's message is gone: the handler answers "expired")."""
    if isinstance(event, Message):
        # Anonymous admins and channels post without from_user: they get no special rights.
        return event.chat.id, event.from_user.id if event.from_user is not None else 0
    if isinstance(event, CallbackQuery):
        message = event.message
        if message is None or isinstance(message, InaccessibleMessage):
            return None
        return message.chat.id, event.from_user.id
    return None


class RightsMiddleware(BaseMiddleware):
    """Inner middleware (runs once the handler's filters matched, so flags are known)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        right = get_flag(data, FLAG)
        who = _who(event)
        if right is None or who is None:
            return await handler(event, data)
        permissions: Permissions = data["permissions"]
        target: Target | None = data.get("target")
        channel = target.chat_id if target is not None and target.linked else None
        if await allowed(permissions, Need(right), data["bot"], *who, channel):
            return await handler(event, data)
        if isinstance(event, CallbackQuery):
            await event.answer(refusal(Need(right)), show_alert=True)
        elif isinstance(event, Message):
            # a refusal: behind the chat's real answers, merged when the budget is spent
            with minor_answer(who[1]):
                await event.answer(refusal(Need(right)))
        return None
