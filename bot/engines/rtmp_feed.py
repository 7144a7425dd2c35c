"""The plumbing of an RTMP chat: its target, its encoder and the forwarding of one decoder
run into the encoder's raw pipes (see ``bot.engines.rtmp`` for why it is built this way)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import metrics
from bot.domain.ports import RtmpTarget
from bot.domain.video import VideoSpec
from bot.engines.base import PlayRequest
from bot.engines.decode import AUDIO_BYTES_PER_SECOND
from bot.engines.splice import EncoderGone, PictureSplice

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
    picture_fd: int | None,
    has_audio: bool,
    on_first_frame: Callable[[], None],
) -> int:
    """Moves one decoder run's output into the encoder's pipes (its pictures spliced from
    ``picture_fd``, which this takes over); its exit code (-1: the encoder went away)."""
    proc = track.proc
    assert proc is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    per_frame_audio = AUDIO_BYTES_PER_SECOND // push.frame.fps
    video = picture_fd is not None

    black = black_frame(push.frame) if not video else b""

    def sent_frame() -> None:
        track.frames += 1
        if not track.first_sent:
            track.first_sent = True
            on_first_frame()

    def spliced_frame() -> None:
        if not has_audio:
            push.audio.write(bytes(per_frame_audio))  # silence keeps sound in step
            track.samples += per_frame_audio
        sent_frame()

    async def pictures() -> None:
        if picture_fd is None:
            return
        # what asyncio still holds for the encoder (the last run's padding) goes first: the
        # thread writes to the same pipe
        transport = push.video.transport
        try:
            transport.set_write_buffer_limits(high=0)  # drain() now waits until it is empty
            try:
                await push.video.drain()
            finally:
                transport.set_write_buffer_limits()
            target = transport.get_extra_info("pipe").fileno()
        except BaseException:
            os.close(picture_fd)  # the splice that would have closed it never starts
            raise
        try:
            await in_thread(
                PictureSplice(
                    picture_fd,
                    target,
                    black_frame(push.frame),
                    stopped=lambda: track.cancelled,
                    on_frame=calling_back(spliced_frame),
                ),
                name=f"rtmp-pictures-{track.request.chat_id}",
            )
        except EncoderGone:
            raise ConnectionResetError("the encoder's picture pipe closed") from None

    async def sound() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(AUDIO_BYTES_PER_SECOND // 10):
            if track.cancelled:
                return
            whole = len(chunk) - len(chunk) % 4
            push.audio.write(chunk[:whole])
            track.samples += whole
            # an audio track: a still picture for every 1/fps of sound sent
            while not video and (track.frames + 1) * per_frame_audio <= track.samples:
                push.video.write(black)
                sent_frame()
            await push.audio.drain()
            if not video:
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


def calling_back(callback: Callable[[], None]) -> Callable[[], None]:
    """``callback`` run on the event loop for each frame the splicing thread moved (the
    frame counter is exported from the thread itself: prometheus counters are thread-safe)."""
    loop = asyncio.get_running_loop()

    def frame() -> None:
        metrics.VIDEO_FRAMES.inc()
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody to tell
            loop.call_soon_threadsafe(callback)

    return frame


async def in_thread(splice: PictureSplice, *, name: str) -> None:
    """Runs ``splice`` in a thread of its own (one per picture stream for its whole run: a
    shared pool would make the next chat's pictures wait for a free worker)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def body() -> None:
        error: BaseException | None = None
        try:
            splice.run()
        except BaseException as exc:  # handed to the awaiting task, not lost in the thread
            error = exc
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=body, name=name, daemon=True).start()
    await done


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
