"""A Telegram audio, voice, video, animation or document that /play or /vplay replied to,
or that a ``t.me`` message link names: downloaded, then probed.

A replied-to file goes through the Bot API (getFile, then the file URL of whatever server
``telegram.api_base`` names).  The public Bot API refuses files over 20 MB ("file is too
big"): those, and message links, are read by an assistant account over MTProto
(``bot.sources.tg_messages.MessageReader``): the chat's own assistant first, then the
others, the first that can see the message downloads it.  Either way the file lands in
``sources.cache_dir`` under its unique id, so a file played twice is downloaded once, and
the size limit holds twice: on the size Telegram announces, and on the bytes actually
received, so a lying or missing size cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.domain.models import SourceKind, Track
from bot.sources.base import Progress, SourceError, TelegramMedia
from bot.sources.cache import DownloadCache
from bot.sources.probe import probe, with_media
from bot.sources.progress import report
from bot.sources.tg_messages import CannotSee, MessageReader, MessageRef, NoMedia, RemoteFile

log = logging.getLogger(__name__)

#: the assistant accounts that may read a message for a chat, the chat's own first
Readers = Callable[[int | None], list[MessageReader]]

#: progress reports at most this often (seconds), plus one at the end
PROGRESS_INTERVAL = 1.0
CHUNK = 64 * 1024
DOWNLOAD_TIMEOUT = 300
#: probe refusals that depend only on the file's bytes
UNPLAYABLE = frozenset({"not_audio", "too_long"})


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def checked_file_path(file_path: str) -> str:
    """``file_path`` from getFile, quoted for the download URL; SourceError if it could
    leave the bot's file folder on the API server.

    aiogram pastes the path into ``{base}/file/bot{token}/{path}`` as it is, so a path with
    ``..`` segments, a query or a scheme would make the download call another Bot API
    method (``../../bot<token>/sendMessage?...``) or another file of the server.  Telegram's
    own paths are plain relative names such as ``music/file_7.mp3``.
    """
    segments = file_path.split("/")
    if (
        not file_path
        or len(file_path) > 1024
        or _SCHEME.match(file_path)
        or any(ch in file_path for ch in "?#\\%")
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in file_path)
        or any(segment in ("", ".", "..") for segment in segments)
    ):
        raise SourceError("bad_file", "Telegram gave an unsafe file path")
    return quote(file_path, safe="/")


def _safe_suffix(file_path: str, file_name: str | None) -> str:
    for name in (file_name or "", file_path):
        suffix = Path(name).suffix.lower()
        if 1 < len(suffix) <= 6 and suffix[1:].isalnum():
            return suffix
    return ".bin"


def _complete(target: Path, size: int | None) -> bool:
    """A download of this file (its announced ``size``) is already in the cache."""
    return bool(size) and target.is_file() and target.stat().st_size == size


def fallback_title(media: TelegramMedia) -> str:
    if media.title:
        return f"{media.performer} — {media.title}" if media.performer else media.title
    if media.file_name:
        return Path(media.file_name).stem or media.file_name
    return {
        "voice": "Voice message",
        "video_note": "Video message",
        "video": "Telegram video",
        "animation": "Animation",
    }.get(media.kind, "Telegram audio")


class TelegramFiles:
    def __init__(
        self,
        bot: Bot,
        *,
        cache: DownloadCache,
        max_download_mb: int,
        probe_timeout: float,
        max_track_seconds: int,
        readers: Readers | None = None,
    ) -> None:
        self._readers = readers
        self._bot = bot
        self._cache = cache
        self._max_bytes = max_download_mb * 1024 * 1024
        self._probe_timeout = probe_timeout
        self._max_seconds = max_track_seconds

    async def resolve(
        self,
        media: TelegramMedia,
        *,
        requested_by: int | None = None,
        requested_by_name: str = "",
        progress: Progress | None = None,
        video_quality: str | None = None,
    ) -> Track:
        """``video_quality``: /vplay asked for picture (it plays as audio if there is none)."""
        if media.file_size is not None and media.file_size > self._max_bytes:
            raise SourceError("too_big", f"{media.file_size} bytes")
        try:
            file = await self._bot.get_file(media.file_id)
        except TelegramAPIError as exc:
            # the public Bot API serves files up to 20 MB: an assistant reads bigger ones
            if "too big" in exc.message.lower():
                if media.message is None or self._readers is None:
                    raise SourceError("too_big", "the Bot API refuses files this big") from None
                return await self.resolve_message(
                    media.message,
                    chat_id=media.message.chat if isinstance(media.message.chat, int) else None,
                    requested_by=requested_by,
                    requested_by_name=requested_by_name,
                    progress=progress,
                    source=f"tg:{media.file_id}",
                    fallback=media,
                    video_quality=video_quality,
                )
            raise SourceError("unreachable", "getFile failed") from None
        except (aiohttp.ClientError, OSError, TimeoutError):
            raise SourceError("unreachable", "getFile failed") from None
        if file.file_size is not None and file.file_size > self._max_bytes:
            raise SourceError("too_big", f"{file.file_size} bytes")
        if not file.file_path:
            raise SourceError("unreachable", "Telegram gave no file path")
        file_path = checked_file_path(file.file_path)
        unique = file.file_unique_id or hashlib.sha256(media.file_id.encode()).hexdigest()[:32]
        name = "".join(c for c in unique if c.isalnum() or c in "-_") or "file"
        target = self._cache.path_for(name, _safe_suffix(file.file_path, media.file_name))

        def chunks() -> AsyncGenerator[bytes, None]:
            session = self._bot.session
            return session.stream_content(
                url=session.api.file_url(self._bot.token, file_path),
                timeout=DOWNLOAD_TIMEOUT,
                chunk_size=CHUNK,
                raise_for_status=True,
            )

        return await self._fetched(
            target,
            file.file_size,
            chunks,
            progress,
            title=fallback_title(media),
            duration=media.duration,
            source=f"tg:{media.file_id}",
            requested_by=requested_by,
            requested_by_name=requested_by_name,
            video_quality=video_quality,
        )

    async def resolve_message(
        self,
        ref: MessageRef,
        *,
        chat_id: int | None,
        requested_by: int | None = None,
        requested_by_name: str = "",
        progress: Progress | None = None,
        source: str | None = None,
        fallback: TelegramMedia | None = None,
        video_quality: str | None = None,
    ) -> Track:
        """The file of a message, read by the first assistant account that can see it
        (``chat_id``: the chat asking, whose own assistant is asked first)."""
        readers = self._readers(chat_id) if self._readers is not None else []
        if not readers:
            raise SourceError("no_reader", "no assistant account is running")
        seen: list[str] = []
        for reader in readers:
            try:
                found = await reader.find(ref)
            except CannotSee as exc:
                seen.append(f"{reader.name}: {exc}")
                continue
            except NoMedia:
                raise SourceError("not_audio", "the message has no file") from None
            return await self._from_reader(
                reader,
                found,
                progress,
                source=source or ref.link(),
                fallback=fallback,
                requested_by=requested_by,
                requested_by_name=requested_by_name,
                video_quality=video_quality,
            )
        log.info("no assistant can see %s (%s)", ref.link(), "; ".join(seen))
        raise SourceError("not_visible", "no assistant account can see that message")

    async def _from_reader(
        self,
        reader: MessageReader,
        found: RemoteFile,
        progress: Progress | None,
        *,
        source: str,
        fallback: TelegramMedia | None,
        requested_by: int | None,
        requested_by_name: str,
        video_quality: str | None,
    ) -> Track:
        if found.file_size is not None and found.file_size > self._max_bytes:
            raise SourceError("too_big", f"{found.file_size} bytes")
        media = fallback or TelegramMedia(
            file_id=found.unique_id,
            kind=found.kind,
            file_size=found.file_size,
            file_name=found.file_name,
            mime_type=found.mime_type,
            title=found.title,
            performer=found.performer,
            duration=found.duration,
        )
        name = "".join(c for c in found.unique_id if c.isalnum() or c in "-_") or "file"
        suffix = _safe_suffix(found.file_name or "", media.file_name)
        return await self._fetched(
            self._cache.path_for(name, suffix),
            found.file_size,
            lambda: reader.chunks(found),
            progress,
            title=fallback_title(media),
            duration=media.duration,
            source=source,
            requested_by=requested_by,
            requested_by_name=requested_by_name,
            video_quality=video_quality,
        )

    async def _fetched(
        self,
        target: Path,
        size: int | None,
        chunks: Callable[[], AsyncGenerator[bytes, None]],
        progress: Progress | None,
        *,
        title: str,
        duration: float | None,
        source: str,
        requested_by: int | None,
        requested_by_name: str,
        video_quality: str | None,
    ) -> Track:
        """Downloads into the cache (unless there already), probes, makes the Track."""
        with self._cache.hold(target):
            if _complete(target, size):
                self._cache.touch(target)
            else:
                await self._cache.make_room(size or 0, keep=target)
                await self._download(chunks, target, size, progress)
                # a size Telegram did not announce is known now: the bound holds after all
                await self._cache.make_room(0, keep=target)
            await report(progress, "probe", None)
            try:
                result = await probe(
                    str(target),
                    timeout=self._probe_timeout,
                    max_seconds=self._max_seconds,
                    want_video=video_quality is not None,
                )
            except SourceError as exc:
                if exc.code in UNPLAYABLE:  # the same bytes will never play: gone at once
                    self._cache.discard(target)
                raise
        track = Track(
            title=result.display_title() or title,
            source=source,
            media=str(target),
            kind=SourceKind.TELEGRAM,
            duration=result.duration if result.duration is not None else duration,
            requested_by=requested_by,
            requested_by_name=requested_by_name,
            is_live=False,
        )
        return with_media(track, result, video_quality)

    async def _download(
        self,
        chunks: Callable[[], AsyncGenerator[bytes, None]],
        target: Path,
        expected: int | None,
        progress: Progress | None,
    ) -> None:
        """``chunks``: opens the file's byte stream (the Bot API's file URL, or MTProto)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
        received = 0
        last_report = time.monotonic()
        try:
            with partial.open("wb") as out:
                await report(progress, "download", 0.0 if expected else None)
                stream = chunks()
                async with contextlib.aclosing(stream):
                    async for chunk in stream:
                        received += len(chunk)
                        if received > self._max_bytes:
                            raise SourceError("too_big", f"more than {self._max_bytes} bytes")
                        out.write(chunk)
                        now = time.monotonic()
                        if now - last_report >= PROGRESS_INTERVAL:
                            last_report = now
                            fraction = received / expected if expected else None
                            await report(progress, "download", fraction)
            await report(progress, "download", 1.0)
            partial.replace(target)
        except SourceError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, CannotSee) as exc:
            if isinstance(exc, TimeoutError):
                raise SourceError("timeout", "download took too long") from None
            raise SourceError("unreachable", "download failed") from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
