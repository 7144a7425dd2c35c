"""An engine that never touches Telegram: ffmpeg decodes each track at real-time pace into a
pipe that nobody hears.

It exists for development and for tests of everything above the engine: the player sees
the same calls and the same events as with the real engine (first frame, natural end,
failures, listener changes), with real decoding and real timing.

Pause is implemented as "stop ffmpeg, remember the position" and resume as "start again
with -ss there", not as SIGSTOP/SIGCONT: ffmpeg's ``-re`` paces output against the wall
clock since the process started, so a process stopped for a minute bursts a minute of audio
when continued, and a stopped process keeps its HTTP connection open until the server drops
it.  Restarting costs a few milliseconds of decoder start-up and is exact for files; a live
stream simply rejoins at its live edge.

A video track decodes its picture too (``bot.engines.decode``): scaled to the chat's
quality, at real-time pace, into a second pipe whose frames are counted, so tests and
benchmarks pay for real video decoding without Telegram.  Its first picture is reported
like its first sound; a silent video's picture is its primary stream (position and end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from bot import metrics
from bot.engines.base import (
    EngineError,
    EngineEvent,
    EventHandler,
    FirstFrame,
    ListenersChanged,
    MediaError,
    PlayRequest,
    TrackEnded,
    TrackFailed,
)
from bot.engines.decode import AUDIO_BYTES_PER_SECOND, DecodeJob, decode_args
from bot.engines.dispatch import EventDispatcher
from bot.engines.live import LiveBackoff
from bot.engines.local_state import Run, Session
from bot.engines.pipes import reader
from bot.ffmpeg import UnsafeMedia, ffmpeg_input, tail_message

log = logging.getLogger(__name__)

BYTES_PER_SECOND = AUDIO_BYTES_PER_SECOND
#: 100 ms of audio per read: fine enough for positions, cheap enough for many chats
CHUNK = BYTES_PER_SECOND // 10
#: picture reads: large, since a 720p stream moves 40 MB/s through the pipe
VIDEO_CHUNK = 1 << 20
_STDERR_KEEP = 4096


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


class LocalEngine:
    name = "local"

    def __init__(
        self,
        *,
        default_listeners: int = 1,
        ffmpeg: str = "ffmpeg",
        account: str = "local",
        user_id: int | None = None,
    ) -> None:
        self._default_listeners = default_listeners
        self._ffmpeg = ffmpeg
        #: a virtual assistant account (the pool's member); faults are scripted per chat
        self.account = account
        self.user_id = user_id
        self.faults = VirtualFaults()
        self.left: list[int] = []
        self._events = EventDispatcher(f"local-engine-{account}")
        self._sessions: dict[int, Session] = {}
        self._listeners: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._restarts: set[asyncio.Task[None]] = set()
        self._closed = False

    def set_handler(self, handler: EventHandler) -> None:
        self._events.set_handler(handler)

    async def start(self) -> None:
        self._closed = False
        self._events.start()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._restarts):
            task.cancel()
        for chat_id in list(self._sessions):
            session = self._sessions.pop(chat_id)
            await self._halt(session)
        self._listeners.clear()
        await self._events.close()

    # -- the VoiceEngine calls -------------------------------------------------------------

    async def play(self, request: PlayRequest) -> None:
        if self._closed:
            raise EngineError("the engine is closed")
        self.faults.raise_for(request.chat_id)
        try:
            source = ffmpeg_input(request.media)
            audio = None if request.audio_media is None else ffmpeg_input(request.audio_media)
        except UnsafeMedia as exc:
            raise MediaError(f"refused media: {exc}") from None
        self._events.start()
        async with self._lock(request.chat_id):
            session = self._sessions.get(request.chat_id)
            if session is None:
                session = self._sessions[request.chat_id] = Session()
            else:
                await self._halt(session)  # replaced: the old track reports nothing
            session.track_id = request.track_id
            session.source = source
            session.audio_source = audio
            session.media = request.media
            session.volume = request.volume
            session.is_live = request.is_live
            session.video = request.video
            session.has_audio = request.has_audio or request.video is None
            session.paused_at = None
            session.first_frame_sent = False
            session.first_picture_sent = False
            session.live = LiveBackoff() if request.is_live else None
            await self._launch(request.chat_id, session, max(0.0, request.position))

    async def pause(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            session = self._sessions.get(chat_id)
            if session is None or session.run is None:
                return
            position = session.run.position()
            await self._halt(session)
            session.paused_at = position

    async def resume(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            session = self._sessions.get(chat_id)
            if session is None or session.paused_at is None:
                return
            position, session.paused_at = session.paused_at, None
            await self._launch(chat_id, session, position)

    async def stop(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            session = self._sessions.pop(chat_id, None)
            self._listeners.pop(chat_id, None)
            if session is not None:
                await self._halt(session)

    async def set_volume(self, chat_id: int, volume: int) -> None:
        async with self._lock(chat_id):
            session = self._sessions.get(chat_id)
            if session is None:
                return
            session.volume = volume
            if session.run is not None:
                position = session.run.position()
                await self._halt(session)
                await self._launch(chat_id, session, position)

    async def seek(self, chat_id: int, position: float) -> None:
        async with self._lock(chat_id):
            session = self._sessions.get(chat_id)
            if session is None or (session.run is None and session.paused_at is None):
                return
            if session.is_live:
                raise MediaError("a live stream cannot be seeked")
            position = max(0.0, position)
            if session.paused_at is not None:
                session.paused_at = position
                return
            await self._halt(session)
            await self._launch(chat_id, session, position)

    async def position(self, chat_id: int) -> float | None:
        session = self._sessions.get(chat_id)
        if session is None:
            return None
        if session.paused_at is not None:
            return session.paused_at
        if session.run is None:
            return None
        return session.run.position()

    async def listeners(self, chat_id: int) -> int | None:
        if chat_id not in self._sessions:
            return None
        return self._listeners.get(chat_id, self._default_listeners)

    def active_chats(self) -> list[int]:
        return list(self._sessions)

    async def leave_chat(self, chat_id: int) -> None:
        """The virtual account leaves the group (recorded for tests)."""
        await self.stop(chat_id)
        self.left.append(chat_id)

    async def healthy(self) -> bool:
        return not self._closed

    # -- development and test controls ----------------------------------------------------

    def set_listeners(self, chat_id: int, count: int) -> None:
        """Simulates people joining or leaving the (imaginary) call."""
        self._listeners[chat_id] = max(0, count)
        self._emit(ListenersChanged(chat_id, max(0, count)))

    def process_ids(self) -> list[int]:
        """The ffmpeg processes alive now (tests check that none is left behind)."""
        return [
            s.run.proc.pid
            for s in self._sessions.values()
            if s.run is not None and s.run.proc.returncode is None
        ]

    # -- internals -------------------------------------------------------------------------

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    def _emit(self, event: EngineEvent) -> None:
        self._events.emit(event)

    async def _launch(self, chat_id: int, session: Session, position: float) -> None:
        assert session.source is not None
        job = DecodeJob(
            session.source,
            position=0.0 if session.is_live else position,
            volume=session.volume,
            video=session.video,
            has_audio=session.has_audio,
            audio_source=session.audio_source,
        )
        # sound and picture together: the picture gets a pipe of its own
        extra = session.video is not None and session.has_audio
        read_fd, write_fd = os.pipe() if extra else (-1, -1)
        args = decode_args(self._ffmpeg, job, video_pipe=f"pipe:{write_fd}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,) if extra else (),
            )
        except OSError as exc:
            if extra:
                os.close(read_fd)
            raise EngineError(f"cannot start ffmpeg: {exc.strerror or exc}") from None
        finally:
            if extra:
                os.close(write_fd)
        if session.live is not None:
            session.live.started()
        run = Run(
            proc,
            position,
            announce_first_frame=session.has_audio and not session.first_frame_sent,
            announce_first_picture=session.video is not None and not session.first_picture_sent,
            video=session.video,
            has_audio=session.has_audio,
        )
        if extra:
            run.video_reader = await reader(read_fd, limit=2 * VIDEO_CHUNK)
        session.run = run
        run.task = asyncio.create_task(
            self._pump(chat_id, session, run), name=f"local-engine-{chat_id}"
        )

    async def _pump(self, chat_id: int, session: Session, run: Run) -> None:
        proc = run.proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        helpers = [asyncio.create_task(self._drain_stderr(proc.stderr, run))]
        if run.video_reader is not None:
            helpers.append(asyncio.create_task(self._read_video(chat_id, session, run)))
        try:
            if run.has_audio:
                while chunk := await proc.stdout.read(CHUNK):
                    run.bytes_read += len(chunk)
                    if run.announce_first_frame and not run.cancelled:
                        run.announce_first_frame = False
                        session.first_frame_sent = True
                        self._emit(FirstFrame(chat_id, session.track_id))
            else:
                await self._count_frames(chat_id, session, run, proc.stdout)
            code = await proc.wait()
            await asyncio.gather(*helpers)
        finally:
            for helper in helpers:
                if not helper.done():
                    helper.cancel()
        if run.cancelled or session.run is not run or self._sessions.get(chat_id) is not session:
            return
        session.run = None
        delay = session.live.next_delay() if session.live is not None else None
        if delay is not None:
            # a live source's ffmpeg stopping (even with status 0) is an outage
            log.info("chat %s: live source stopped (%s); restart in %.1f s", chat_id, code, delay)
            track_id = session.track_id
            task = asyncio.create_task(self._restart_live(chat_id, session, track_id, delay))
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)
            return
        if code == 0:
            self._emit(TrackEnded(chat_id, session.track_id))
        else:
            message = tail_message(bytes(run.stderr), session.media)
            self._emit(TrackFailed(chat_id, session.track_id, message))

    async def _restart_live(
        self, chat_id: int, session: Session, track_id: str, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        async with self._lock(chat_id):
            # stopped, replaced, paused or already running again: nothing to restart
            if (
                self._closed
                or self._sessions.get(chat_id) is not session
                or session.track_id != track_id
                or session.run is not None
                or session.paused_at is not None
            ):
                return
            try:
                await self._launch(chat_id, session, 0.0)
            except EngineError as exc:
                self._emit(TrackFailed(chat_id, track_id, str(exc)))

    async def _read_video(self, chat_id: int, session: Session, run: Run) -> None:
        assert run.video_reader is not None
        await self._count_frames(chat_id, session, run, run.video_reader)

    async def _count_frames(
        self, chat_id: int, session: Session, run: Run, stream: asyncio.StreamReader
    ) -> None:
        """Reads the picture pipe to its end, counting whole frames as they complete."""
        while chunk := await stream.read(VIDEO_CHUNK):
            before = run.frames
            run.video_bytes += len(chunk)
            if run.frames > before:
                metrics.VIDEO_FRAMES.inc(run.frames - before)
                if run.announce_first_picture and not run.cancelled:
                    run.announce_first_picture = False
                    session.first_picture_sent = True
                    self._emit(FirstFrame(chat_id, session.track_id, media="video"))

    def frames(self, chat_id: int) -> int:
        """Frames of picture the current run has decoded (tests and benchmarks)."""
        session = self._sessions.get(chat_id)
        return 0 if session is None or session.run is None else session.run.frames

    @staticmethod
    async def _drain_stderr(stream: asyncio.StreamReader, run: Run) -> None:
        while chunk := await stream.read(1024):
            run.stderr += chunk
            del run.stderr[:-_STDERR_KEEP]

    async def _halt(self, session: Session) -> None:
        """Ends the session's process without any event about it."""
        run, session.run = session.run, None
        if run is None:
            return
        run.cancelled = True
        if run.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                run.proc.kill()
        await run.proc.wait()
        if run.task is not None and run.task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
