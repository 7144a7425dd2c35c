"""Small pieces every router uses: who sent a message, and how to answer it (rights:
``bot.telegram.rights``; which stream a command drives: ``bot.telegram.targets``).

A command posted in a channel gets no chatter: a success is not answered (the post is
deleted, see ``bot.telegram.channel_posts``), a failure is answered as a reply to the post,
so the administrator who posted it sees why."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from aiogram.enums import ChatType
from aiogram.types import Message

from bot.telegram.throttle import minor_answer

#: while a channel post is handled: set to a list the failure answers are recorded in
CHANNEL_ANSWERS: ContextVar[list[str] | None] = ContextVar("sattva_channel_answers", default=None)


def sender_id(message: Message) -> int:
    # Anonymous admins and channels post without from_user: they get no special rights.
    return message.from_user.id if message.from_user is not None else 0


def in_channel(message: Message) -> bool:
    return message.chat.type == ChatType.CHANNEL


async def answer_done(message: Message, text: str, **kwargs: Any) -> None:
    """What a command did: answered in the chat, nothing in a channel."""
    if not in_channel(message):
        await message.answer(text, **kwargs)


async def answer_minor(message: Message, text: str) -> None:
    """A usage line, refusal or error sentence: it waits behind the chat's other answers and
    may be merged with the user's next ones (the Sender's minor answers).  In a channel it
    replies to the command post (which is then kept)."""
    with minor_answer(sender_id(message)):
        if in_channel(message):
            record_channel_answer(text)
            await message.reply(text)
        else:
            await message.answer(text)


def record_channel_answer(text: str) -> None:
    answers = CHANNEL_ANSWERS.get()
    if answers is not None:
        answers.append(text)


def sender_name(message: Message) -> str:
    return message.from_user.full_name if message.from_user is not None else ""
