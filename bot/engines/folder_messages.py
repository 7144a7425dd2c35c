"""What a virtual assistant account of the local engine "sees" in Telegram: a folder.

The local engine never talks to Telegram, so its accounts read messages from
``[[assistants]] messages_dir``: ``<messages_dir>/<chat>/<message id>.<ext>``, where
``<chat>`` is a public name (``somechannel``) or a ``-100…`` id.  A chat folder the account
lacks is a chat it is not a member of; a missing file, a message it cannot see.  It is
the MTProto side of development set-ups and of the tests, behind the same
``MessageReader`` interface as the kurigram reader, so everything above it (the download
into the cache, the progress message, the refusals) runs as with a real account.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator
from pathlib import Path

from bot.sources.tg_messages import CannotSee, MessageRef, NoMedia, RemoteFile

#: bytes per chunk (MTProto's file parts are 1 MiB too)
CHUNK = 1024 * 1024
AUDIO = frozenset({".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".flac", ".wav"})
VIDEO = frozenset({".mp4", ".mkv", ".webm", ".mov"})


class FolderMessages:
    def __init__(self, folder: str | Path, *, name: str) -> None:
        self.folder = Path(folder)
        self.name = name

    async def find(self, ref: MessageRef) -> RemoteFile:
        return await asyncio.to_thread(self._find, ref)

    def _find(self, ref: MessageRef) -> RemoteFile:
        chat = self.folder / str(ref.chat)
        if not chat.is_dir():
            raise CannotSee(f"not a member of {ref.chat}")
        found = sorted(p for p in chat.glob(f"{ref.message_id}.*") if p.is_file())
        if not found:
            raise CannotSee(f"no message {ref.message_id} in {ref.chat}")
        path = found[0]
        suffix = path.suffix.lower()
        if suffix not in AUDIO | VIDEO:
            raise NoMedia(f"{path.name} is not audio or video")
        digest = hashlib.sha256(f"{self.folder.resolve()}/{ref.chat}/{path.name}".encode())
        return RemoteFile(
            kind="audio" if suffix in AUDIO else "video",
            unique_id=f"v{digest.hexdigest()[:24]}",
            file_size=path.stat().st_size,
            file_name=path.name,
            handle=path,
        )

    async def chunks(self, file: RemoteFile) -> AsyncGenerator[bytes, None]:
        path: Path = file.handle
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
