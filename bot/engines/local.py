"""An engine that never touches Telegram: ffmpeg decodes each track at real-time pace into a
pipe that nobody hears.

It exists for development and for tests of everything above the engine: the player sees
the same calls and the same events as with the real engine (first frame, natural end,
failures, listener changes), with real decoding and real timing.

Real-time pace comes from the reader, not from ffmpeg's ``-re``: ffmpeg decodes until the
pipe is full and then waits, and the engine reads at most ``LEAD_SECONDS`` ahead of the
wall clock.  That is what makes pre-roll possible: ``preload`` starts the next track's
ffmpeg shortly before the current one ends (``PREROLL_SECONDS``) and reads nothing from
it, so its input is opened, probed and decoded up to a full pipe while the current track
still plays; the following ``play`` of that track adopts the waiting process and its first
audio is already there, instead of a process start after the end.  (``-re`` would not
allow it: it paces against the wall clock since the process started, so a process kept
waiting bursts the waited time's audio when read.)  A track's end is reported as soon as
its last chunk is read (the pipe is at its end), not after that chunk's pacing sleep: the
read-ahead is audio already handed on, so the next track's first chunk follows it at once
(gapless, as a real call's jitter buffer would play it) instead of ~100 ms later.

Pause is implemented as "stop ffmpeg, remember the position" and resume as "start again
with -ss there", not as SIGSTOP/SIGCONT: a stopped process keeps its HTTP connection open
until the server drops it.  Restarting costs a few milliseconds of decoder start-up and is
exact for files; a live stream simply rejoins at its live edge.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

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
from bot.engines.dispatch import EventDispatcher
from bot.ffmpeg import FfmpegInput, UnsafeMedia, ffmpeg_input, input_args, tail_message

#: s16le, 2 channels, 48 kHz
BYTES_PER_SECOND = 48_000 * 2 * 2
#: 100 ms of audio per read: fine enough for positions, cheap enough for many chats
CHUNK = BYTES_PER_SECOND // 10
#: how far reading may run ahead of real time (what a pause or a stop can cut short)
LEAD_SECONDS = 0.2
#: how long before the current track's end the next one's ffmpeg starts
PREROLL_SECONDS = 2.0
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


@dataclass(eq=False)
class _Run:
    """One ffmpeg process; a pause, seek or volume change replaces it with another."""

    proc: asyncio.subprocess.Process
    start_offset: float
    announce_first_frame: bool
    bytes_read: int = 0
    cancelled: bool = False
    stderr: bytearray = field(default_factory=bytearray)
    task: asyncio.Task[None] | None = None

    def position(self) -> float:
        return self.start_offset + self.bytes_read / BYTES_PER_SECOND


@dataclass(eq=False)
class _Preroll:
    """The next track's ffmpeg, started and waiting on its full pipe until ``play``."""

    request: PlayRequest
    starting: bool = False
    proc: asyncio.subprocess.Process | None = None  # None until it is time to start it

    def matches(self, request: PlayRequest) -> bool:
        mine = self.request
        return (mine.track_id, mine.media, mine.position, mine.volume) == (
            request.track_id,
            request.media,
            request.position,
            request.volume,
        )


@dataclass(eq=False)
class _Session:
    """The chat's presence "in the call": from the first play until stop."""

    track_id: str = ""
    source: FfmpegInput | None = None
    media: str = ""
    volume: int = 100
    is_live: bool = False
    duration: float | None = None
    paused_at: float | None = None
    first_frame_sent: bool = False
    run: _Run | None = None
    preroll: _Preroll | None = None


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
        self._sessions: dict[int, _Session] = {}
        self._listeners: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._closed = False

    def set_handler(self, handler: EventHandler) -> None:
        self._events.set_handler(handler)

    async def start(self) -> None:
        self._closed = False
        self._events.start()

    async def close(self) -> None:
        self._closed = True
        for chat_id in list(self._sessions):
            # a leave running meanwhile (a player closing) may have taken it already
            session = self._sessions.pop(chat_id, None)
            if session is None:
                continue
            await self._halt(session)
            await self._drop_preroll(session)
        self._listeners.clear()
        await self._events.close()

    # -- the VoiceEngine calls -------------------------------------------------------------

    async def play(self, request: PlayRequest) -> None:
        if self._closed:
            raise EngineError("the engine is closed")
        self.faults.raise_for(request.chat_id)
        try:
            source = ffmpeg_input(request.media)
        except UnsafeMedia as exc:
            raise MediaError(f"refused media: {exc}") from None
        self._events.start()
        async with self._lock(request.chat_id):
            session = self._sessions.get(request.chat_id)
            if session is None:
                session = self._sessions[request.chat_id] = _Session()
            else:
                await self._halt(session)  # replaced: the old track reports nothing
            session.track_id = request.track_id
            session.source = source
            session.media = request.media
            session.volume = request.volume
            session.is_live = request.is_live
            session.duration = request.duration
            session.paused_at = None
            session.first_frame_sent = False
            preroll, session.preroll = session.preroll, None
            if preroll is not None and preroll.proc is not None and preroll.matches(request):
                self._adopt(request.chat_id, session, preroll.proc, max(0.0, request.position))
                return
            if preroll is not None:
                await self._discard(preroll.proc)
            await self._launch(request.chat_id, session, max(0.0, request.position))

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """``request`` is what will play next in the chat (None: nothing known).  Its
        ffmpeg starts ``PREROLL_SECONDS`` before the current track's end (at once if that
        is nearer), and a ``play`` of the same request adopts it; anything else drops it."""
        async with self._lock(chat_id):
            session = self._sessions.get(chat_id)
            if session is None:
                return
            if session.preroll is not None and (
                request is None or not session.preroll.matches(request)
            ):
                await self._drop_preroll(session)
            if request is None or request.is_live or session.preroll is not None:
                return
            try:
                ffmpeg_input(request.media)
            except UnsafeMedia:
                return  # play() will refuse it with the reason
            session.preroll = _Preroll(request)
            await self._maybe_preroll(session, session.run)

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
                await self._drop_preroll(session)

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
        procs = [s.run.proc for s in self._sessions.values() if s.run is not None]
        procs += [
            s.preroll.proc
            for s in self._sessions.values()
            if s.preroll is not None and s.preroll.proc is not None
        ]
        return [proc.pid for proc in procs if proc.returncode is None]

    # -- internals -------------------------------------------------------------------------

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    def _emit(self, event: EngineEvent) -> None:
        self._events.emit(event)

    async def _spawn(
        self, source: FfmpegInput, *, position: float, volume: int, is_live: bool
    ) -> asyncio.subprocess.Process:
        args = [
            self._ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            *input_args(source, position=0.0 if is_live else position),
            "-vn",
            "-af",
            f"volume={volume / 100:.2f}",
            "-f",
            "s16le",
            "-ac",
            "2",
            "-ar",
            "48000",
            "pipe:1",
        ]
        try:
            return await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise EngineError(f"cannot start ffmpeg: {exc.strerror or exc}") from None

    async def _launch(self, chat_id: int, session: _Session, position: float) -> None:
        assert session.source is not None
        proc = await self._spawn(
            session.source, position=position, volume=session.volume, is_live=session.is_live
        )
        self._adopt(chat_id, session, proc, position)

    def _adopt(
        self, chat_id: int, session: _Session, proc: asyncio.subprocess.Process, position: float
    ) -> None:
        run = _Run(proc, position, announce_first_frame=not session.first_frame_sent)
        session.run = run
        run.task = asyncio.create_task(
            self._pump(chat_id, session, run), name=f"local-engine-{chat_id}"
        )

    async def _pump(self, chat_id: int, session: _Session, run: _Run) -> None:
        proc = run.proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        stderr_task = asyncio.create_task(self._drain_stderr(proc.stderr, run))
        loop = asyncio.get_running_loop()
        began: float | None = None
        try:
            while chunk := await proc.stdout.read(CHUNK):
                now = loop.time()
                began = now if began is None else began
                run.bytes_read += len(chunk)
                if run.announce_first_frame and not run.cancelled:
                    run.announce_first_frame = False
                    session.first_frame_sent = True
                    self._emit(FirstFrame(chat_id, session.track_id))
                if session.preroll is not None and not session.preroll.starting:
                    await self._maybe_preroll(session, run)
                if proc.stdout.at_eof():
                    break  # that was the last chunk: no pacing sleep before the end
                ahead = run.bytes_read / BYTES_PER_SECOND - (now - began) - LEAD_SECONDS
                if ahead > 0:  # real-time pace (see the module doc)
                    await asyncio.sleep(ahead)
            code = await proc.wait()
            await stderr_task
        finally:
            if not stderr_task.done():
                stderr_task.cancel()
        if run.cancelled or session.run is not run or self._sessions.get(chat_id) is not session:
            return
        session.run = None
        if code == 0:
            self._emit(TrackEnded(chat_id, session.track_id))
        else:
            message = tail_message(bytes(run.stderr), session.media)
            self._emit(TrackFailed(chat_id, session.track_id, message))

    @staticmethod
    async def _drain_stderr(stream: asyncio.StreamReader, run: _Run) -> None:
        while chunk := await stream.read(1024):
            run.stderr += chunk
            del run.stderr[:-_STDERR_KEEP]

    async def _maybe_preroll(self, session: _Session, run: _Run | None) -> None:
        """Starts the waiting next track's ffmpeg once the current one is near its end (or
        past it; not while paused)."""
        preroll = session.preroll
        if preroll is None or preroll.starting or session.paused_at is not None:
            return
        if run is not None:
            if session.is_live or session.duration is None:
                return  # no known end: the next one starts after it, as without pre-roll
            if session.duration - run.position() > PREROLL_SECONDS:
                return
        preroll.starting = True
        request = preroll.request
        try:
            proc = await self._spawn(
                ffmpeg_input(request.media),
                position=max(0.0, request.position),
                volume=request.volume,
                is_live=request.is_live,
            )
        except (EngineError, UnsafeMedia):
            session.preroll = None  # play() will start it the usual way and report why
            return
        if session.preroll is preroll:
            preroll.proc = proc
        else:  # dropped or replaced while it started
            await self._discard(proc)

    async def _drop_preroll(self, session: _Session) -> None:
        preroll, session.preroll = session.preroll, None
        if preroll is not None:
            await self._discard(preroll.proc)

    @staticmethod
    async def _discard(proc: asyncio.subprocess.Process | None) -> None:
        """Kills a pre-rolled process nobody read from and reads its pipes to the end:
        asyncio stopped reading them when their buffers filled, and until both pipes
        reach their end the process counts as running and its pipes stay open."""
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.communicate()  # (``wait`` alone would wait for those ends forever)

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process | None) -> None:
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()

    async def _halt(self, session: _Session) -> None:
        """Ends the session's process without any event about it."""
        run, session.run = session.run, None
        if run is None:
            return
        run.cancelled = True
        await self._kill(run.proc)
        if run.task is not None and run.task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
