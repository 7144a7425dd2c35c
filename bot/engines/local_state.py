"""What the local engine keeps per chat: the session "in the call" and its current ffmpeg
run (see ``bot.engines.local``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.domain.video import VideoSpec
from bot.engines.decode import AUDIO_BYTES_PER_SECOND
from bot.engines.live import LiveBackoff
from bot.ffmpeg import FfmpegInput


@dataclass(eq=False)
class Run:
    """One ffmpeg process; a pause, seek or volume change replaces it with another."""

    proc: asyncio.subprocess.Process
    start_offset: float
    announce_first_frame: bool
    announce_first_picture: bool = False
    video: VideoSpec | None = None
    has_audio: bool = True
    video_reader: asyncio.StreamReader | None = None  # the picture's own pipe
    bytes_read: int = 0
    video_bytes: int = 0
    cancelled: bool = False
    stderr: bytearray = field(default_factory=bytearray)
    task: asyncio.Task[None] | None = None

    @property
    def frames(self) -> int:
        return self.video_bytes // self.video.frame_bytes if self.video is not None else 0

    def position(self) -> float:
        if not self.has_audio and self.video is not None:
            return self.start_offset + self.frames / self.video.fps
        return self.start_offset + self.bytes_read / AUDIO_BYTES_PER_SECOND


@dataclass(eq=False)
class Session:
    """The chat's presence "in the call": from the first play until stop."""

    track_id: str = ""
    source: FfmpegInput | None = None
    audio_source: FfmpegInput | None = None
    media: str = ""
    volume: int = 100
    is_live: bool = False
    video: VideoSpec | None = None
    has_audio: bool = True
    paused_at: float | None = None
    first_frame_sent: bool = False
    first_picture_sent: bool = False
    run: Run | None = None
    live: LiveBackoff | None = None  # a live source: restarted when its ffmpeg stops
