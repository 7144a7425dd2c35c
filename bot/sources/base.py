"""The resolver contract shared by the sources package and the bot adapter.

A ``SourceError`` carries a stable ``code`` (``bot.domain.errors.ErrorCode``) that the bot
maps to a localised sentence, so no user-facing text lives in here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.errors import ErrorCode, SattvaError
from bot.domain.models import Track
from bot.sources.tg_messages import MessageRef

if TYPE_CHECKING:
    from bot.sources.page_meta import Listing, Wanted
    from bot.sources.streaming import ServiceLink

#: the codes a SourceError may carry (each with its chat message in bot.telegram.errors)
ERROR_CODES = frozenset(
    {
        ErrorCode.EMPTY,
        ErrorCode.UNSUPPORTED,
        ErrorCode.PRIVATE_NETWORK,
        ErrorCode.UNREACHABLE,
        ErrorCode.NOT_AUDIO,
        ErrorCode.TOO_LONG,
        ErrorCode.TOO_BIG,
        ErrorCode.TIMEOUT,
        ErrorCode.NOT_FOUND,
        ErrorCode.UNAVAILABLE,
        ErrorCode.BAD_FILE,
        ErrorCode.BUSY,
        ErrorCode.CACHE_FULL,
        ErrorCode.BOT_CHECK,
        ErrorCode.LINK_UNREADABLE,
        ErrorCode.NO_READER,
        ErrorCode.NOT_VISIBLE,
    }
)


class SourceError(SattvaError):
    def __init__(self, code: ErrorCode | str, detail: str = "", **params: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown source error code: {code}")
        super().__init__(code, f"{code}: {detail}" if detail else str(code), **params)
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
    #: the message it is attached to: an assistant reads it when the Bot API cannot (> 20 MB)
    message: MessageRef | None = None


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


@dataclass(frozen=True, slots=True)
class Playlist:
    """A playlist / album / set link, listed: its first entries as tracks not resolved yet
    (``media`` empty; the player resolves each when it is about to play).

    ``skipped``: entries of the listing left out (no usable address, too long); ``more``:
    the listing had more entries than the limit, of which only the first were taken."""

    title: str
    source: str
    tracks: tuple[Track, ...]
    skipped: int = 0
    more: bool = False


#: progress callback: a stage name ("download", "probe", "search", "list") and a fraction
#: or None
Progress = Callable[[str, float | None], Awaitable[None]]


class Resolver(Protocol):
    async def resolve(
        self, request: SourceRequest, progress: Progress | None = None
    ) -> Track | Playlist:
        """Returns a probed Track ready for the queue, a listed Playlist (a playlist link),
        or raises SourceError."""

    def streaming_link(self, request: SourceRequest) -> ServiceLink | None:
        """The streaming-service link the request is (Spotify...), or None."""

    async def read_link(
        self, link: ServiceLink, request: SourceRequest, progress: Progress | None
    ) -> Listing:
        """The tracks the link's page names; raises SourceError."""

    async def match(
        self, wanted: Wanted, request: SourceRequest, progress: Progress | None = None
    ) -> Track:
        """The search result played for one named track; raises SourceError."""
