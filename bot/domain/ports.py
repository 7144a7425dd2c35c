"""What the player needs from the outside, as protocols (implemented in storage/sources)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.models import EndReason, Track


@dataclass(frozen=True, slots=True)
class ChatSettings:
    chat_id: int
    language: str | None = None
    admin_only: bool = False
    auto_end_seconds: int | None = None  # None: the configured default; 0: never
    always_on: bool = False
    playlist: tuple[str, ...] = field(default_factory=tuple)
    #: the 24/7 playlist plays picture and sound (fitted into the chat's video quality)
    playlist_video: bool = False
    volume: int = 100
    video_quality: str | None = None  # None: the configured player.video_quality
    engine: str | None = None  # "rtmp" when the chat streams to its RTMP target
    speed: float = 1.0  # /speed: tempo of every track but a live one (pitch unchanged)

    def quality(self, default: str) -> str:
        """The box the chat's video is fitted into: its /settings choice, else ``default``
        (the configured ``player.video_quality``)."""
        return self.video_quality or default


@dataclass(frozen=True, slots=True)
class RtmpTarget:
    """Where an RTMP chat pushes its stream; ``key`` is a secret (never in a repr)."""

    url: str  # rtmp:// or rtmps://
    key: str = field(repr=False)

    def address(self) -> str:
        return f"{self.url.rstrip('/')}/{self.key}"

    def redact(self, text: str) -> str:
        return text.replace(self.key, "<key>") if self.key else text


class ChatSettingsSource(Protocol):
    async def get(self, chat_id: int) -> ChatSettings: ...

    async def get_many(self, chat_ids: Iterable[int]) -> dict[int, ChatSettings]:
        """Every listed chat (defaults for unknown ones); recovery reads thousands at once."""
        ...

    async def set_speed(self, chat_id: int, speed: float) -> None:
        """The one setting the player writes itself: a speed change is stored between the
        position checkpoint at the old speed and the restart at the new one, so a crash
        anywhere leaves a slot and a speed that agree on where the track is."""
        ...


class PlayHistorySink(Protocol):
    async def started(self, chat_id: int, track: Track) -> None: ...

    async def ended(self, chat_id: int, track: Track, reason: EndReason) -> None: ...


class MediaRefresher(Protocol):
    """Makes a track's media playable again (a live stream's URL may have expired);
    raises ``SattvaError`` when the source cannot be reached now."""

    async def refresh(self, track: Track) -> Track: ...


class KeepMedia:
    """A refresher that changes nothing: the same media is opened again."""

    async def refresh(self, track: Track) -> Track:
        return track


class PlaylistResolver(Protocol):
    """Turns a 24/7 playlist entry (URL, library name or folder) into playable tracks."""

    async def expand(self, entry: str, *, video_quality: str | None = None) -> list[Track]:
        """``video_quality``: the entries as /vplay takes them (video fitted into that
        preset; a file without a picture stays audio); None: sound only, as /play."""
        ...


class MediaResolver(Protocol):
    """Fills in a track's stream address when it is about to play: a playlist entry queued
    from its listing has none yet, and a site's stream URL expires after hours (also while
    the bot was down).  Resolved through the same guards as a /play request."""

    async def fresh(self, chat_id: int, track: Track) -> Track:
        """``track`` with a working ``media`` (same id and title); raises
        ``bot.engines.base.MediaError`` when it cannot be resolved (the track is skipped)."""
        ...
