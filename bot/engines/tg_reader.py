"""An assistant account reading Telegram messages over MTProto (kurigram): the files the Bot
API will not serve (over 20 MB) and the messages ``t.me`` links name.

It uses the engine's own client, so it reads what that account can see: the chats it is a
member of, and public channels and groups by name.  The session is in memory, so a
private chat (``-100…`` id) the client has not met since it started is unknown to it
(``PEER_ID_INVALID``); the reader then walks the account's dialogs once, which fills the
client's peer cache, and asks again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from bot.sources.tg_messages import CannotSee, MessageRef, NoMedia, RemoteFile

log = logging.getLogger(__name__)

#: dialogs walked to meet the account's chats (a peer cache warm-up, once per client)
DIALOG_LIMIT = 1000
MEDIA_KINDS = ("audio", "voice", "video", "video_note", "document")


def remote_file(message: Any) -> RemoteFile:
    """The playable attachment of a kurigram Message; NoMedia when there is none."""
    for kind in MEDIA_KINDS:
        media = getattr(message, kind, None)
        if media is not None:
            return RemoteFile(
                kind=kind,
                unique_id=str(media.file_unique_id),
                file_size=getattr(media, "file_size", None),
                file_name=getattr(media, "file_name", None),
                mime_type=getattr(media, "mime_type", None),
                title=getattr(media, "title", None),
                performer=getattr(media, "performer", None),
                duration=getattr(media, "duration", None),
                handle=message,
            )
    raise NoMedia("the message carries no audio, video or document")


class KurigramMessages:
    """``MessageReader`` over an engine's kurigram client (``client()``: None until started)."""

    def __init__(self, client: Callable[[], Any], *, name: str) -> None:
        self._client = client
        self.name = name
        self._met_dialogs = False

    async def find(self, ref: MessageRef) -> RemoteFile:
        from pyrogram import errors
        from pyrogram.errors.rpc_error import RPCError

        client = self._client()
        if client is None or not getattr(client, "is_connected", False):
            raise CannotSee("the account is not connected")
        try:
            message = await self._get(client, ref)
        except errors.PeerIdInvalid:
            if self._met_dialogs or not isinstance(ref.chat, int):
                raise CannotSee("the account does not know that chat") from None
            await self._meet_dialogs(client)
            try:
                message = await self._get(client, ref)
            except (RPCError, KeyError, ValueError) as exc:
                raise CannotSee(exc.__class__.__name__) from None
        except (RPCError, KeyError, ValueError) as exc:
            # a private channel, no such name, not a participant, an unknown peer...
            raise CannotSee(exc.__class__.__name__) from None
        if message is None or getattr(message, "empty", False):
            raise CannotSee("no such message, or it is hidden from this account")
        return remote_file(message)

    @staticmethod
    async def _get(client: Any, ref: MessageRef) -> Any:
        return await client.get_messages(chat_id=ref.chat, message_ids=ref.message_id, replies=0)

    async def _meet_dialogs(self, client: Any) -> None:
        self._met_dialogs = True
        count = 0
        try:
            async for _ in client.get_dialogs(limit=DIALOG_LIMIT):
                count += 1
        except Exception as exc:  # a flood wait or a dropped connection: ask anyway
            log.info("assistant %s: walking dialogs failed: %s", self.name, exc)
        log.info("assistant %s met %d dialogs", self.name, count)

    async def chunks(self, file: RemoteFile) -> AsyncGenerator[bytes, None]:
        """1 MiB parts; a Telegram error mid-way (flood wait, file reference expired) ends
        the download as a failed one, never as a traceback."""
        from pyrogram.errors.rpc_error import RPCError

        client = self._client()
        if client is None:
            raise CannotSee("the account is not connected")
        try:
            async for chunk in client.stream_media(file.handle):
                yield bytes(chunk)
        except RPCError as exc:
            raise CannotSee(f"the download stopped: {exc.__class__.__name__}") from None
