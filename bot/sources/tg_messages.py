"""Telegram messages an assistant account reads over MTProto: files over the Bot API's
20 MB and ``t.me`` message links.

The public Bot API serves files up to 20 MB; an assistant (a user account, kurigram) has no
such limit and can read any message of a chat it is a member of, and of public channels
and groups.  This module holds what the sources need from such an account (the
``MessageReader`` interface, implemented next to each engine: ``bot.engines.tg_reader``
for kurigram, a folder for the local engine's virtual accounts) and the link syntax.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

#: t.me/<public name>/<id>, t.me/<public name>/<topic>/<id>, t.me/c/<internal id>/[<topic>/]<id>
_LINK = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/"
    r"(?:(?P<name>[A-Za-z][A-Za-z0-9_]{3,31})|c/(?P<internal>\d{1,16}))"
    r"(?:/(?P<first>\d{1,10}))?/(?P<message>\d{1,10})/?(?:\?[^#\s]*)?$"
)
#: public names t.me uses for its own pages, never a chat
_RESERVED = frozenset({"joinchat", "addstickers", "addemoji", "share", "proxy", "socks", "iv"})


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message: its chat (``-100…`` id, or a public ``@name`` without the ``@``)."""

    chat: int | str
    message_id: int

    def link(self) -> str:
        if isinstance(self.chat, str):
            return f"https://t.me/{self.chat}/{self.message_id}"
        internal = str(self.chat).removeprefix("-100")
        return f"https://t.me/c/{internal}/{self.message_id}"


def parse_message_link(text: str) -> MessageRef | None:
    """The message a ``t.me`` link names (with or without ``https://``), else None."""
    match = _LINK.match(text.strip())
    if match is None:
        return None
    message_id = int(match.group("message"))
    if message_id <= 0:
        return None
    if match.group("internal") is not None:
        return MessageRef(int(f"-100{match.group('internal')}"), message_id)
    name = match.group("name")
    if name.lower() in _RESERVED:
        return None
    return MessageRef(name, message_id)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """The playable attachment of a message, as an assistant account saw it."""

    kind: str  # audio | voice | video | video_note | document
    unique_id: str  # stable across accounts: names the cached file
    file_size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    title: str | None = None
    performer: str | None = None
    duration: int | None = None
    #: the reader's own handle on the file (kurigram's Message); opaque to the sources
    handle: Any = None


class CannotSee(Exception):
    """This account cannot read that message (not a member, no such chat or message)."""


class NoMedia(Exception):
    """The message exists but carries nothing playable."""


@runtime_checkable
class ReadsMessages(Protocol):
    """An engine whose accounts read messages (the assistant pool, a lone engine)."""

    def message_readers(self, chat_id: int | None) -> list[MessageReader]: ...


class MessageReader(Protocol):
    """An assistant account's view of Telegram messages."""

    name: str

    async def find(self, ref: MessageRef) -> RemoteFile:
        """The message's file; raises CannotSee or NoMedia."""

    def chunks(self, file: RemoteFile) -> AsyncGenerator[bytes, None]:
        """The file's bytes, in order."""
