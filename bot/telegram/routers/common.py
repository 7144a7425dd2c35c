"""Small pieces every router uses: who sent a message (rights: ``bot.telegram.rights``)."""

from __future__ import annotations

from aiogram.types import Message

from bot.telegram.throttle import minor_answer


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
