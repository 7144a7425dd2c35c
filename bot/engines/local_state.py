"""What the local engine keeps per chat (see ``bot.engines.local``): the session "in the
call", its current decoder run, the pre-rolled next decoder, and scripted faults."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.domain.video import VideoSpec
from bot.engines.base import EngineError, PlayRequest
from bot.engines.decode import AUDIO_BYTES_PER_SECOND
from bot.engines.picture import PicturePipe
from bot.ffmpeg import FfmpegInput


class VirtualFaults:
    """Scripted assistant-side failures of a virtual account: the next ``play`` in a chat
    (or in any chat, ``chat_id=None``) raises the given error, ``times`` times."""

    def __init__(self) -> None:
        self._script: dict[int | None, list[EngineError]] = {}

    def add(self, error: EngineError, *, chat_id: int | None = None, times: int = 1) -> None:
        self._script.setdefault(chat_id, []).extend([error] * times)

    def clear(self) -> None:
        self._script.clear()

    def raise_for(self, chat_id: int) -> None:
        for key in (chat_id, None):
            pending = self._script.get(key)
            if pending:
                raise pending.pop(0)


@dataclass(eq=False)
class Decoder:
    """One ffmpeg process: sound (if any) on stdout, a video track's picture on a pipe of
    its own (``picture``)."""

    proc: asyncio.subprocess.Process
    picture: PicturePipe | None = None

    def close_picture(self) -> None:
        if self.picture is not None:
            self.picture.close()


@dataclass(eq=False)
class Run:
    """One decoder being read; a pause, seek or volume change replaces it with another."""

    decoder: Decoder
    start_offset: float
    announce_first_frame: bool
    announce_first_picture: bool = False
    video: VideoSpec | None = None
    has_audio: bool = True
    #: tempo: each second of output read is ``speed`` seconds of the track
    speed: float = 1.0
    bytes_read: int = 0
    #: the event loop's time of the first data: both pipes are paced against it
    began: float | None = None
    cancelled: bool = False
    stderr: bytearray = field(default_factory=bytearray)
    task: asyncio.Task[None] | None = None

    @property
    def proc(self) -> asyncio.subprocess.Process:
        return self.decoder.proc

    @property
    def frames(self) -> int:
        picture = self.decoder.picture
        return 0 if picture is None else picture.frames

    def position(self) -> float:
        """Seconds into the track (track time): by the sound read, or a silent video's
        frames, each output second being ``speed`` seconds of the source."""
        if not self.has_audio and self.video is not None:
            return self.start_offset + self.speed * self.frames / self.video.fps
        return self.start_offset + self.speed * self.bytes_read / AUDIO_BYTES_PER_SECOND


@dataclass(eq=False)
class Preroll:
    """The next track's decoder, started and waiting on its full pipes until ``play``."""

    request: PlayRequest
    starting: bool = False
    decoder: Decoder | None = None  # None until it is time to start it

    def matches(self, request: PlayRequest) -> bool:
        mine = self.request
        return (
            mine.track_id,
            mine.media,
            mine.audio_media,
            mine.position,
            mine.volume,
            mine.video,
            mine.has_audio,
            mine.speed,
        ) == (
            request.track_id,
            request.media,
            request.audio_media,
            request.position,
            request.volume,
            request.video,
            request.has_audio,
            request.speed,
        )


@dataclass(eq=False)
class Session:
    """The chat's presence "in the call": from the first play until stop."""

    track_id: str = ""
    source: FfmpegInput | None = None
    audio_source: FfmpegInput | None = None
    media: str = ""
    volume: int = 100
    is_live: bool = False
    duration: float | None = None
    video: VideoSpec | None = None
    has_audio: bool = True
    speed: float = 1.0
    paused_at: float | None = None
    first_frame_sent: bool = False
    first_picture_sent: bool = False
    run: Run | None = None
    preroll: Preroll | None = None
