"""The local engine's end of a decoder's picture pipe: counted, paced, never kept.

Nobody looks at the local engine's pictures, so the bytes are only counted into whole
frames as they arrive (``data_received``), with no buffer to copy them through: a 720p30
stream moves ~40 MB/s, and a ``StreamReader`` costs this process about as much CPU again
as counting does (see benchmarks/video_cpu.py).  Real-time pace is kept by pausing the pipe
while the pictures run ahead of the clock, so ffmpeg waits on the full pipe exactly as it
does for the sound.

A pipe starts paused: a pre-rolled decoder fills it and waits until ``attach`` (its track
plays) or ``close`` (it never will).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

#: frames newly completed -> None
OnFrames = Callable[[int], None]
#: seconds of picture delivered -> seconds ahead of real time (> 0: pause that long)
Pace = Callable[[float], float]


class PicturePipe(asyncio.Protocol):
    def __init__(self, frame_bytes: int, fps: int) -> None:
        self._frame_bytes = frame_bytes
        self._fps = fps
        self.bytes = 0
        self.frames = 0
        self._on_frames: OnFrames | None = None
        self._pace: Pace | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False
        self._wake: asyncio.TimerHandle | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, fd: int, frame_bytes: int, fps: int) -> PicturePipe:
        """Takes over ``fd`` (a pipe's read end); paused until ``attach``."""
        loop = asyncio.get_running_loop()
        _, pipe = await loop.connect_read_pipe(
            lambda: cls(frame_bytes, fps), os.fdopen(fd, "rb", buffering=0)
        )
        return pipe

    # -- the engine's calls ----------------------------------------------------------------

    def attach(self, on_frames: OnFrames, pace: Pace) -> None:
        """Its track plays: count into ``on_frames`` and read at ``pace``."""
        self._on_frames, self._pace = on_frames, pace
        self._resume()

    def unpace(self) -> None:
        """Reads the rest at once (the decoder was killed: its pipe must reach its end)."""
        self._pace = None
        if self._wake is not None:
            self._wake.cancel()
        self._resume()

    def close(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport
        transport.pause_reading()
        self._paused = True

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        frames = self.bytes // self._frame_bytes
        if frames == self.frames:
            return
        new, self.frames = frames - self.frames, frames
        if self._on_frames is not None:
            self._on_frames(new)
        if self._pace is None or self._transport is None:
            return
        ahead = self._pace(frames / self._fps)
        if ahead > 0 and not self._paused:
            self._transport.pause_reading()
            self._paused = True
            self._wake = asyncio.get_running_loop().call_later(ahead, self._resume)

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if not self.done.done():
            self.done.set_result(None)

    def _resume(self) -> None:
        self._wake = None
        if self._paused and self._transport is not None and not self._transport.is_closing():
            self._paused = False
            self._transport.resume_reading()
