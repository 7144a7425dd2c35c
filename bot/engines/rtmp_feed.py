"""The plumbing of an RTMP chat: its target, its encoder and the forwarding of one decoder
run into the encoder's raw pipes (see ``bot.engines.rtmp`` for why it is built this way)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import metrics
from bot.domain.ports import RtmpTarget
from bot.domain.video import VideoSpec
from bot.engines.base import PlayRequest
from bot.engines.decode import AUDIO_BYTES_PER_SECOND

STDERR_KEEP = 4096


TargetLookup = Callable[[int], Awaitable[RtmpTarget | None]]


@dataclass(eq=False)
class Push:
    """A chat's encoder and its connection, alive from the first play until stop."""

    target: RtmpTarget
    frame: VideoSpec
    proc: asyncio.subprocess.Process
    video: asyncio.StreamWriter
    audio: asyncio.StreamWriter
    stderr: bytearray = field(default_factory=bytearray)
    watcher: asyncio.Task[None] | None = None


@dataclass(eq=False)
class Track:
    request: PlayRequest
    offset: float
    proc: asyncio.subprocess.Process | None = None
    frames: int = 0  # whole frames forwarded this run
    samples: int = 0  # audio bytes forwarded this run
    first_sent: bool = False
    cancelled: bool = False
    paused_at: float | None = None
    task: asyncio.Task[None] | None = None
    stderr: bytearray = field(default_factory=bytearray)


async def forward(
    push: Push,
    track: Track,
    video: asyncio.StreamReader | None,
    has_audio: bool,
    on_first_frame: Callable[[], None],
) -> int:
    """Moves one decoder run's output into the encoder's pipes; its exit code (-1:
    the encoder went away)."""
    proc = track.proc
    assert proc is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    frame_bytes = push.frame.frame_bytes
    per_frame_audio = AUDIO_BYTES_PER_SECOND // push.frame.fps

    black = black_frame(push.frame) if video is None else b""

    def sent_frame() -> None:
        track.frames += 1
        if not track.first_sent:
            track.first_sent = True
            on_first_frame()

    async def pictures() -> None:
        if video is None:
            return
        while True:
            try:
                frame = await video.readexactly(frame_bytes)
            except asyncio.IncompleteReadError:
                return  # a cut-off last frame is dropped, never half-sent
            if track.cancelled:
                return
            push.video.write(frame)
            metrics.VIDEO_FRAMES.inc()
            if not has_audio:
                push.audio.write(bytes(per_frame_audio))  # silence keeps sound in step
                track.samples += per_frame_audio
            sent_frame()
            await push.video.drain()

    async def sound() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(AUDIO_BYTES_PER_SECOND // 10):
            if track.cancelled:
                return
            whole = len(chunk) - len(chunk) % 4
            push.audio.write(chunk[:whole])
            track.samples += whole
            # an audio track: a still picture for every 1/fps of sound sent
            while video is None and (track.frames + 1) * per_frame_audio <= track.samples:
                push.video.write(black)
                sent_frame()
            await push.audio.drain()
            if video is None:
                await push.video.drain()

    async def errors() -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(1024):
            track.stderr += chunk
            del track.stderr[:-STDERR_KEEP]

    try:
        await asyncio.gather(pictures(), sound(), errors())
        return await proc.wait()
    except (ConnectionError, OSError):
        # the encoder went away (its watcher reconnects): this run's decoder goes too, or it
        # would sit for ever on a pipe nobody reads, its process outliving the track
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        return -1


def pad(push: Push, track: Track) -> None:
    """Evens out picture and sound at a track's end, so the next starts in step."""
    video_seconds = track.frames / push.frame.fps
    audio_seconds = track.samples / AUDIO_BYTES_PER_SECOND
    if audio_seconds > video_seconds:
        missing = round((audio_seconds - video_seconds) * push.frame.fps)
        black = black_frame(push.frame)
        for _ in range(missing):
            push.video.write(black)
    elif video_seconds > audio_seconds:
        missing = int((video_seconds - audio_seconds) * AUDIO_BYTES_PER_SECOND) // 4 * 4
        push.audio.write(bytes(missing))


def black_frame(frame: VideoSpec) -> bytes:
    luma = frame.width * frame.height
    return bytes([16]) * luma + bytes([128]) * (luma // 2)
