"""Small pieces every router uses: rights checks that answer the refusal themselves."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.permissions import Permissions
from bot.telegram.throttle import minor_answer


def refusal_control() -> str:
    return _("Only admins who can manage voice chats and authorised users can do that.")


def refusal_configure() -> str:
    return _("Only chat administrators can do that.")


def sender_id(message: Message) -> int:
    # Anonymous admins and channels post without from_user: they get no special rights.
    return message.from_user.id if message.from_user is not None else 0


async def answer_minor(message: Message, text: str) -> None:
    """A usage line, refusal or error sentence: it waits behind the chat's other answers and
    may be merged with the user's next ones (the Sender's minor answers)."""
    with minor_answer(sender_id(message)):
        await message.answer(text)


def sender_name(message: Message) -> str:
    return message.from_user.full_name if message.from_user is not None else ""


async def may_control(message: Message, bot: Bot, permissions: Permissions) -> bool:
    if await permissions.can_control(bot, message.chat.id, sender_id(message)):
        return True
    await answer_minor(message, refusal_control())
    return False


async def may_configure(message: Message, bot: Bot, permissions: Permissions) -> bool:
    if await permissions.can_configure(bot, message.chat.id, sender_id(message)):
        return True
    await answer_minor(message, refusal_configure())
    return False
