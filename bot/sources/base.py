"""The resolver contract shared by the sources package and the bot adapter.

A ``SourceError`` carries a stable ``code`` that the bot maps to a localised sentence, so
no user-facing text lives in here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.models import Track

#: stable codes for SourceError, each with its own chat message in the catalogues
ERROR_CODES = (
    "empty",  # nothing to play: no argument and no replied-to media
    "unsupported",  # a scheme or site we do not play (file:, data:, ftp:, ...)
    "private_network",  # the host resolves to loopback/private/link-local/multicast
    "unreachable",  # DNS failure, connection refused, HTTP error
    "not_audio",  # the media has no audio stream
    "too_long",  # longer than player.max_track_seconds
    "too_big",  # larger than sources.max_download_mb
    "timeout",  # probing or downloading took too long
    "not_found",  # search or library lookup found nothing
    "unavailable",  # the needed tool (yt-dlp) is missing or refused
    "bad_file",  # Telegram described the file in a way that is unsafe to fetch
    "busy",  # too many requests of this chat (or of all chats) are being fetched
    "cache_full",  # the download folder is full of files still queued
)


class SourceError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown source error code: {code}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TelegramMedia:
    """An attachment of the message /play replied to, as the Bot API described it."""

    file_id: str
    kind: str  # audio | voice | video | video_note | animation | document
    file_size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    title: str | None = None
    performer: str | None = None
    duration: int | None = None


@dataclass(frozen=True, slots=True)
class SourceRequest:
    query: str  # the text after /play, stripped; may be empty when media is given
    media: TelegramMedia | None = None
    requested_by: int | None = None
    requested_by_name: str = ""
    #: /vplay: the chat's quality preset ("720p"...); None: /play, sound only
    video_quality: str | None = None
    #: the chat it is for: bounds how many of one chat's requests are fetched at once
    chat_id: int | None = None


#: progress callback: a stage name ("download", "probe", "search") and a fraction or None
Progress = Callable[[str, float | None], Awaitable[None]]


class Resolver(Protocol):
    async def resolve(self, request: SourceRequest, progress: Progress | None = None) -> Track:
        """Returns a probed Track ready for the queue, or raises SourceError."""
