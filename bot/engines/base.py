"""The engine interface the player talks to, and the events engines report.

Engines know nothing of queues: they play one media item per chat and report what happens
to it.  Every event names the track id the engine was asked to play, so the player can
ignore a stale or duplicated report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.errors import ErrorCode, SattvaError
from bot.domain.video import VideoSpec


class EngineError(SattvaError):
    """An expected failure of the voice engine; ``str(exc)`` is the English detail."""

    def __init__(
        self, message: str, *, code: ErrorCode = ErrorCode.ENGINE_ERROR, **params: int
    ) -> None:
        super().__init__(code, message, **params)


class NoActiveCall(EngineError):
    def __init__(self, message: str = "no active voice chat in this group") -> None:
        super().__init__(message, code=ErrorCode.NO_ACTIVE_CALL)


class NotAllowed(EngineError):
    """``code``: not_allowed (the voice chat refuses everyone), banned (this account is
    banned or was removed), not_member (this account cannot get in); the assistant pool
    moves a chat to another account on the last two only."""

    def __init__(
        self,
        message: str = "the assistant is not allowed to join",
        *,
        code: ErrorCode = ErrorCode.NOT_ALLOWED,
    ) -> None:
        super().__init__(message, code=code)


class ChannelsTooMuch(EngineError):
    """The account is in too many groups (``CHANNELS_TOO_MUCH``) and cannot join another."""

    def __init__(self) -> None:
        super().__init__(
            "the assistant account is in too many groups", code=ErrorCode.CHANNELS_TOO_MUCH
        )


class MediaError(EngineError):
    def __init__(self, message: str = "the media cannot be played") -> None:
        super().__init__(message, code=ErrorCode.MEDIA_ERROR)


class RateLimited(EngineError):
    """Telegram asked the assistant to wait (FloodWait) before trying again."""

    def __init__(self, seconds: int) -> None:
        super().__init__(
            f"Telegram asks to wait {seconds} s before trying again",
            code=ErrorCode.FLOOD_WAIT,
            seconds=seconds,
        )
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class TrackEnded:
    chat_id: int
    track_id: str


@dataclass(frozen=True, slots=True)
class TrackFailed:
    chat_id: int
    track_id: str
    message: str


@dataclass(frozen=True, slots=True)
class FirstFrame:
    """The first frame of a track left the decoder (for latency measurements); a video
    track reports its first audio frame and its first picture separately."""

    chat_id: int
    track_id: str
    media: str = "audio"  # "audio" or "video"


@dataclass(frozen=True, slots=True)
class ListenersChanged:
    """Listener count without the assistant itself."""

    chat_id: int
    count: int


@dataclass(frozen=True, slots=True)
class PictureLost:
    """A video track's picture ended before its sound (its source's video stream broke or
    ran short); the sound plays on, so the track goes on too, but the chat should know."""

    chat_id: int
    track_id: str


@dataclass(frozen=True, slots=True)
class CallGone:
    """The call ended under us: kicked, left, voice chat closed."""

    chat_id: int
    reason: str


EngineEvent = TrackEnded | TrackFailed | FirstFrame | ListenersChanged | CallGone | PictureLost
EventHandler = Callable[[EngineEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PlayRequest:
    chat_id: int
    track_id: str
    media: str  # local path or http(s) URL; never starts with "-"
    position: float = 0.0
    volume: int = 100
    is_live: bool = False
    #: set for a video track: the picture's fitted size and frame rate
    video: VideoSpec | None = None
    #: False for a silent video (its picture is the primary stream)
    has_audio: bool = True
    #: the sound of a video whose ``media`` is picture only (same rules as ``media``)
    audio_media: str | None = None
    duration: float | None = None  # the track's length when known (pre-roll needs it)
    #: tempo (SPEED_MIN..SPEED_MAX, pitch unchanged); ``position`` and the engine's
    #: ``position()`` are in track time, so a track time t is wall time t / speed
    speed: float = 1.0


class VoiceEngine(Protocol):
    name: str

    def set_handler(self, handler: EventHandler) -> None:
        """The one consumer of this engine's events (the player manager)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def play(self, request: PlayRequest) -> None:
        """Starts (or replaces) the chat's stream; raises EngineError."""

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """What will most likely play next in the chat (None: nothing known), so that its
        ``play`` can start at once: the engine resolves, probes and (local engine) starts
        decoding it ahead.  Best effort and silent: a failure shows at ``play``, and a
        ``play`` of anything else discards it."""

    async def pause(self, chat_id: int) -> None: ...

    async def resume(self, chat_id: int) -> None: ...

    async def stop(self, chat_id: int) -> None:
        """Stops the stream and leaves the call; a no-op when not in one."""

    async def set_volume(self, chat_id: int, volume: int) -> None: ...

    async def seek(self, chat_id: int, position: float) -> None: ...

    async def position(self, chat_id: int) -> float | None:
        """Seconds into the current track, or None when nothing plays."""

    async def listeners(self, chat_id: int) -> int | None:
        """Current listeners without the assistant; None when unknown / not in a call."""

    def active_chats(self) -> list[int]: ...

    async def healthy(self) -> bool: ...
