"""An engine that pushes each chat's stream to an RTMP(S) server: a channel's or group's
video chat run as an RTMP live stream, which needs no assistant account at all.

py-tgcalls cannot stream into such a call (ntgcalls raises RTMPStreamingUnsupported), so
this engine talks to Telegram's RTMP ingest the way OBS would.  One encoder per chat
(``push_args``: raw picture + sound in, h264 + aac FLV out) holds ONE connection from the
first play until stop; each track is a decoder (``canvas_args``, ``-re``, or ``-readrate S``
at another speed: it paces its input, so S seconds of source per second keep the output in
real time) whose raw output this engine forwards into the encoder's pipes, whole frames at
a time (the pictures spliced from pipe to pipe in a thread, ``bot.engines.splice``, never
copied through Python).  So between tracks the push continues on the same connection
(only the decoder start-up in between), a killed decoder (skip, pause, seek, speed) can
never leave half a frame in the encoder's input (a cut-off frame is completed with black),
and at a track's end the shorter of picture and sound is padded so they stay in step for
the next.  An audio track shows a still black picture
(written here, one frame per 1/fps of sound); a silent video gets silence the same way.

The URL and stream key come from ``targets`` (the chat's settings); the key is a secret:
it is never logged, and an encoder error is reported with the key cut out.  Listener
counts are unknown here (None), so auto-end never fires for an RTMP chat.  An encoder that
dies (the server dropped us) is restarted with backoff up to ``MAX_RECONNECTS`` times in a
row (``sattva_rtmp_reconnects_total``), then the chat's "call" is reported gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import replace

from bot import metrics
from bot.domain.errors import ErrorCode
from bot.domain.ports import RtmpTarget
from bot.domain.video import fit
from bot.engines.base import (
    CallGone,
    EngineError,
    EventHandler,
    FirstFrame,
    MediaError,
    PlayRequest,
    TrackEnded,
    TrackFailed,
)
from bot.engines.decode import (
    DecodeJob,
    canvas_args,
    check_speed,
    decode_args,
    push_args,
    rate,
)
from bot.engines.dispatch import EventDispatcher
from bot.engines.pipes import child_read_pipe, spawn_decoder, writer
from bot.engines.rtmp_feed import (
    STDERR_KEEP,
    Push,
    TargetLookup,
    Track,
    forward,
    pad,
)
from bot.engines.splice import enlarge
from bot.ffmpeg import UnsafeMedia, ffmpeg_input, tail_message

__all__ = ["NoRtmpTarget", "RtmpEngine", "RtmpTarget", "TargetLookup"]

log = logging.getLogger(__name__)

MAX_RECONNECTS = 3


class NoRtmpTarget(EngineError):
    def __init__(self) -> None:
        super().__init__("no RTMP URL and key are set for this chat", code=ErrorCode.NO_RTMP_TARGET)


class RtmpEngine:
    name = "rtmp"

    def __init__(
        self, *, targets: TargetLookup, quality: str = "720p", ffmpeg: str = "ffmpeg"
    ) -> None:
        self._targets = targets
        self._frame = fit(quality)
        self._ffmpeg = ffmpeg
        self._events = EventDispatcher("rtmp-engine")
        self._pushes: dict[int, Push] = {}
        self._tracks: dict[int, Track] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._closed = False

    def set_handler(self, handler: EventHandler) -> None:
        self._events.set_handler(handler)

    async def start(self) -> None:
        self._closed = False
        self._events.start()

    async def close(self) -> None:
        self._closed = True
        # a track whose connection already went (a dead encoder) is stopped as well
        for chat_id in {*self._pushes, *self._tracks}:
            await self.stop(chat_id)
        await self._events.close()

    # -- the VoiceEngine calls -------------------------------------------------------------

    async def play(self, request: PlayRequest) -> None:
        if self._closed:
            raise EngineError("the engine is closed")
        try:
            ffmpeg_input(request.media)
            if request.audio_media is not None:
                ffmpeg_input(request.audio_media)
        except UnsafeMedia as exc:
            raise MediaError(f"refused media: {exc}") from None
        check_speed(request)
        self._events.start()
        async with self._lock(request.chat_id):
            await self._halt(request.chat_id)
            push = self._pushes.get(request.chat_id)
            if push is None or push.proc.returncode is not None:
                push = await self._connect(request.chat_id)
            track = self._tracks[request.chat_id] = Track(request, max(0.0, request.position))
            await self._launch(request.chat_id, push, track)

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """No pre-roll here (yet): the next track's decoder starts at the end of this one,
        on the same connection."""

    async def pause(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            track = self._tracks.get(chat_id)
            if track is None or track.paused_at is not None or track.proc is None:
                return
            position = self._position(track)
            await self._halt(chat_id, keep=True)
            track.paused_at = position

    async def resume(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            track = self._tracks.get(chat_id)
            push = self._pushes.get(chat_id)
            if track is None or track.paused_at is None or push is None:
                return
            track.offset, track.paused_at = track.paused_at, None
            await self._launch(chat_id, push, track)

    async def stop(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            await self._halt(chat_id)
            push = self._pushes.pop(chat_id, None)
            if push is not None:
                await self._disconnect(push)

    async def set_volume(self, chat_id: int, volume: int) -> None:
        await self._restart(chat_id, volume=volume)

    async def seek(self, chat_id: int, position: float) -> None:
        track = self._tracks.get(chat_id)
        if track is not None and track.request.is_live:
            raise MediaError("a live stream cannot be seeked")
        await self._restart(chat_id, position=max(0.0, position))

    async def position(self, chat_id: int) -> float | None:
        track = self._tracks.get(chat_id)
        if track is None:
            return None
        return track.paused_at if track.paused_at is not None else self._position(track)

    async def listeners(self, chat_id: int) -> int | None:
        return None  # an RTMP server does not say who watches

    def active_chats(self) -> list[int]:
        return list(self._pushes)

    async def healthy(self) -> bool:
        return not self._closed

    def encoder_pids(self) -> list[int]:
        return [p.proc.pid for p in self._pushes.values() if p.proc.returncode is None]

    def process_ids(self) -> list[int]:
        """The ffmpeg processes alive now, encoders and decoders (as ``LocalEngine``'s:
        what a test or a CPU count looks for without scanning every process)."""
        decoders = [
            t.proc.pid for t in self._tracks.values() if t.proc and t.proc.returncode is None
        ]
        return self.encoder_pids() + decoders

    # -- internals -------------------------------------------------------------------------

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    def _position(self, track: Track) -> float:
        """Track time: each frame sent is 1/fps of output, ``speed`` times that of track."""
        return track.offset + rate(track.request) * track.frames / self._frame.fps

    async def _restart(
        self, chat_id: int, *, volume: int | None = None, position: float | None = None
    ) -> None:
        async with self._lock(chat_id):
            track = self._tracks.get(chat_id)
            push = self._pushes.get(chat_id)
            if track is None or push is None:
                return
            current = track.paused_at if track.paused_at is not None else self._position(track)
            request = track.request
            if volume is not None:
                request = replace(request, volume=volume)
            new = Track(request, current if position is None else position)
            new.first_sent = track.first_sent
            if track.paused_at is not None:
                new.paused_at = new.offset
                self._tracks[chat_id] = new
                return
            await self._halt(chat_id)
            self._tracks[chat_id] = new
            await self._launch(chat_id, push, new)

    async def _connect(self, chat_id: int) -> Push:
        target = await self._targets(chat_id)
        if target is None:
            raise NoRtmpTarget()
        video_r, video_w = child_read_pipe()
        enlarge(video_w)  # the pictures are spliced in: fewer, larger moves per frame
        audio_r, audio_w = child_read_pipe()
        args = push_args(
            self._ffmpeg,
            self._frame,
            video_pipe=f"pipe:{video_r}",
            audio_pipe=f"pipe:{audio_r}",
            target=target.address(),
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(video_r, audio_r),
            )
        except OSError as exc:
            for fd in (video_w, audio_w):
                os.close(fd)
            raise EngineError(f"cannot start ffmpeg: {exc.strerror or exc}") from None
        finally:
            os.close(video_r)
            os.close(audio_r)
        push = Push(target, self._frame, proc, await writer(video_w), await writer(audio_w))
        push.watcher = asyncio.create_task(self._watch(chat_id, push), name=f"rtmp-{chat_id}")
        self._pushes[chat_id] = push
        return push

    async def _disconnect(self, push: Push) -> None:
        for pipe in (push.video, push.audio):
            pipe.close()
        if push.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                push.proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await push.proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    push.proc.kill()
                await push.proc.wait()
        if push.watcher is not None and push.watcher is not asyncio.current_task():
            # cancelled, not awaited to its end: a watcher reconnecting waits for the lock
            # that stop() holds here
            push.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await push.watcher

    async def _watch(self, chat_id: int, push: Push) -> None:
        """Keeps the encoder's last error; an encoder that dies while still wanted is
        reconnected with backoff, and after too many failures the chat is gone."""
        assert push.proc.stderr is not None
        while chunk := await push.proc.stderr.read(1024):
            push.stderr += chunk
            del push.stderr[:-STDERR_KEEP]
        await push.proc.wait()
        if self._pushes.get(chat_id) is not push:
            return
        message = push.target.redact(tail_message(bytes(push.stderr), ""))
        log.warning("chat %s: RTMP encoder ended: %s", chat_id, message)
        for attempt in range(1, MAX_RECONNECTS + 1):
            await asyncio.sleep(0.5 * 2**attempt)
            metrics.RTMP_RECONNECTS.inc()
            async with self._lock(chat_id):
                if self._pushes.get(chat_id) is not push:
                    return
                try:
                    new = await self._connect(chat_id)
                except EngineError:
                    continue
                track = self._tracks.get(chat_id)
                if track is not None and track.paused_at is None:
                    await self._halt(chat_id, keep=True)
                    track.offset = self._position(track)
                    track.frames = track.samples = 0
                    await self._launch(chat_id, new, track)
                return
        self._pushes.pop(chat_id, None)
        self._tracks.pop(chat_id, None)
        self._events.emit(CallGone(chat_id, "rtmp_failed"))

    async def _launch(self, chat_id: int, push: Push, track: Track) -> None:
        request = track.request
        job = DecodeJob(
            ffmpeg_input(request.media),
            position=0.0 if request.is_live else track.offset,
            volume=request.volume,
            video=request.video,
            has_audio=request.has_audio or request.video is None,
            audio_source=None if request.audio_media is None else ffmpeg_input(request.audio_media),
            speed=rate(request),
        )
        picture = request.video is not None

        def args_for(video_pipe: str) -> list[str]:
            if picture:
                return canvas_args(self._ffmpeg, job, push.frame, video_pipe=video_pipe)
            return decode_args(self._ffmpeg, job)

        proc, read_fd = await spawn_decoder(args_for, picture=picture)
        track.proc = proc
        track.cancelled = False
        track.frames = track.samples = 0  # this run's; earlier runs are in ``offset``
        if read_fd is not None:
            enlarge(read_fd)
        track.task = asyncio.create_task(
            self._pump(chat_id, push, track, read_fd, job.has_audio),
            name=f"rtmp-track-{chat_id}",
        )

    async def _pump(
        self,
        chat_id: int,
        push: Push,
        track: Track,
        picture_fd: int | None,
        has_audio: bool,
    ) -> None:
        def first() -> None:
            self._events.emit(FirstFrame(chat_id, track.request.track_id, media="video"))

        code = await forward(push, track, picture_fd, has_audio, first)
        if track.cancelled or self._tracks.get(chat_id) is not track:
            return
        pad(push, track)
        track.proc = None
        if code == 0:
            self._events.emit(TrackEnded(chat_id, track.request.track_id))
        else:
            message = tail_message(bytes(track.stderr), track.request.media)
            self._events.emit(TrackFailed(chat_id, track.request.track_id, message))

    async def _halt(self, chat_id: int, *, keep: bool = False) -> None:
        """Ends the chat's decoder without any event; the encoder stays connected."""
        track = self._tracks.get(chat_id) if keep else self._tracks.pop(chat_id, None)
        if track is None or track.proc is None:
            return
        track.cancelled = True
        if track.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                track.proc.kill()
        await track.proc.wait()
        if track.task is not None and track.task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await track.task
        push = self._pushes.get(chat_id)
        if push is not None:
            pad(push, track)
        track.proc = None
