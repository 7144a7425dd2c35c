"""Small pieces every router uses: who sent a message (rights: ``bot.telegram.rights``)."""

from __future__ import annotations

from aiogram.types import Message


def sender_id(message: Message) -> int:
    # Anonymous admins and channels post without from_user: they get no special rights.
    return message.from_user.id if message.from_user is not None else 0


def sender_name(message: Message) -> str:
    return message.from_user.full_name if message.from_user is not None else ""
