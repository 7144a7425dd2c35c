"""Playback commands sent where no stream can play: a private chat, or any chat type
without a voice chat, gets one sentence saying where they work instead of a stream.

The commands (``STREAM_COMMANDS``) and the chat types that have voice chats
(``STREAM_CHAT_TYPES``) are the two lists to extend, e.g. when channel playback (commands
in a group, stream in a linked channel) arrives: a chat type that can control a stream
elsewhere joins ``STREAM_CHAT_TYPES`` and its handlers resolve the target chat.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command, Filter
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

#: chat types with a voice chat the assistant can stream in
STREAM_CHAT_TYPES = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
#: commands that play, control or edit a chat's stream and queue
STREAM_COMMANDS = (
    "play",
    "vplay",
    "skip",
    "end",
    "stop",
    "pause",
    "resume",
    "seek",
    "volume",
    "speed",
    "loop",
    "queue",
    "now",
    "shuffle",
    "remove",
    "move",
    "clear",
    "channelplay",
)


def streams_in(chat_type: str) -> bool:
    return chat_type in STREAM_CHAT_TYPES


class NoStreamHere(Filter):
    """Passes a message from a chat that cannot have a stream."""

    async def __call__(self, message: Message) -> bool:
        return not streams_in(message.chat.type)


async def elsewhere(message: Message) -> None:
    await message.answer(
        _(
            "Playback works in groups with a voice chat: add me to a group and use the "
            "commands there."
        )
    )


def build_router() -> Router:
    """A fresh router, included before the playback and queue routers."""
    router = Router(name="elsewhere")
    router.message.filter(NoStreamHere())  # a group's message passes by at once
    router.message.register(elsewhere, Command(*STREAM_COMMANDS))
    return router
