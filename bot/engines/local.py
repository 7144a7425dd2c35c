"""An engine that never touches Telegram: ffmpeg decodes each track at real-time pace into a
pipe that nobody hears.

It exists for development and for tests of everything above the engine: the player sees
the same calls and the same events as with the real engine (first frame, natural end,
failures, listener changes), with real decoding and real timing.

Real-time pace comes from the reader, not from ffmpeg's ``-re``: ffmpeg decodes until the
pipe is full and then waits, and the engine reads at most ``LEAD_SECONDS`` ahead of the
wall clock.  That is what makes pre-roll possible: ``preload`` starts the next track's
ffmpeg shortly before the current one ends (``bot.engines.local_preroll``) and reads
nothing from it, so its input is opened, probed and decoded up to a full pipe while the
current track still plays; the following ``play`` of that track adopts the waiting process
and its first audio is already there, instead of a process start after the end.  (``-re`` would not
allow it: it paces against the wall clock since the process started, so a process kept
waiting bursts the waited time's audio when read.)  A track's end is reported as soon as
its last chunk is read (the pipe is at its end), not after that chunk's pacing sleep: the
read-ahead is audio already handed on, so the next track's first chunk follows it at once
(gapless, as a real call's jitter buffer would play it) instead of ~100 ms later.

Pause is implemented as "stop ffmpeg, remember the position" and resume as "start again
with -ss there", not as SIGSTOP/SIGCONT: a stopped process keeps its HTTP connection open
until the server drops it.  Restarting costs a few milliseconds of decoder start-up and is
exact for files; a live stream simply rejoins at its live edge.

A track at another speed (``PlayRequest.speed``) is decoded with ``atempo`` (and
``setpts`` for its picture); the reader paces the OUTPUT, so it stays real time, and
positions count each output second as ``speed`` seconds of the track.

A video track decodes its picture too (``bot.engines.decode``): scaled to the chat's
quality and frame rate, into a pipe of its own that is read -- and paced -- like the sound,
and whose whole frames are counted (``frames``, ``sattva_video_frames_decoded``), so tests
and benchmarks pay for real video decoding without Telegram.  Its first picture is
reported like its first sound (``FirstFrame`` with ``media="video"``); a silent video's
picture is on stdout and is its primary stream (position and end).
"""

from __future__ import annotations

import asyncio
import contextlib

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
from bot.engines.decode import AUDIO_BYTES_PER_SECOND, DecodeJob, decode_args, rate, request_inputs
from bot.engines.dispatch import EventDispatcher
from bot.engines.folder_messages import FolderMessages
from bot.engines.local_preroll import Prerolls
from bot.engines.local_state import Decoder, Preroll, Run, Session, VirtualFaults
from bot.engines.picture import PicturePipe
from bot.engines.pipes import keep_tail, spawn_decoder
from bot.ffmpeg import tail_message
from bot.sources.tg_messages import MessageReader

__all__ = ["BYTES_PER_SECOND", "LocalEngine", "VirtualFaults"]

#: s16le, 2 channels, 48 kHz
BYTES_PER_SECOND = AUDIO_BYTES_PER_SECOND
#: 100 ms of audio per read: fine enough for positions, cheap enough for many chats
CHUNK = BYTES_PER_SECOND // 10
#: how far reading may run ahead of real time (what a pause or a stop can cut short)
LEAD_SECONDS = 0.2


async def _whole_chunk(stream: asyncio.StreamReader) -> bytes:
    """The next ``CHUNK`` of sound, or what is left before the end.  Whole chunks keep the
    reads aligned: a read that took only what ffmpeg had written so far left the track's
    last bytes for one more read after one more pacing sleep, so its end came a chunk late."""
    try:
        return await stream.readexactly(CHUNK)
    except asyncio.IncompleteReadError as exc:
        return exc.partial


class LocalEngine:
    name = "local"

    def __init__(
        self,
        *,
        default_listeners: int = 1,
        ffmpeg: str = "ffmpeg",
        account: str = "local",
        user_id: int | None = None,
        messages_dir: str = "",
    ) -> None:
        self._default_listeners = default_listeners
        self._ffmpeg = ffmpeg
        #: a virtual assistant account (the pool's member); faults are scripted per chat
        self.account = account
        self.user_id = user_id
        self.faults = VirtualFaults()
        #: what this virtual account "sees" in Telegram (``[[assistants]] messages_dir``)
        self.messages = FolderMessages(messages_dir, name=account) if messages_dir else None
        self.left: list[int] = []
        self._events = EventDispatcher(f"local-engine-{account}")
        self._sessions: dict[int, Session] = {}
        self._listeners: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._prerolls = Prerolls(self._spawn)
        self._closed = False

    def set_handler(self, handler: EventHandler) -> None:
        self._events.set_handler(handler)

    async def start(self) -> None:
        self._closed = False
        self._events.start()

    async def close(self) -> None:
        self._closed = True
        await self._prerolls.close()
        for chat_id in list(self._sessions):
            # a leave running meanwhile (a player closing) may have taken it already
            session = self._sessions.pop(chat_id, None)
            if session is None:
                continue
            await self._halt(session)
            await self._prerolls.drop(session)
        self._listeners.clear()
        await self._events.close()

    # -- the VoiceEngine calls -------------------------------------------------------------

    async def play(self, request: PlayRequest) -> None:
        if self._closed:
            raise EngineError("the engine is closed")
        self.faults.raise_for(request.chat_id)
        source, audio = request_inputs(request)
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
            session.duration = request.duration
            session.video = request.video
            session.has_audio = request.has_audio or request.video is None
            session.speed = rate(request)
            session.paused_at = None
            session.first_frame_sent = False
            session.first_picture_sent = False
            preroll, session.preroll = session.preroll, None
            position = max(0.0, request.position)
            if preroll is not None and preroll.decoder is not None and preroll.matches(request):
                self._adopt(request.chat_id, session, preroll.decoder, position)
                return
            if preroll is not None:
                await self._prerolls.discard(preroll.decoder)
            await self._launch(request.chat_id, session, position)

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """``request`` is what will play next in the chat (None: nothing known).  Its
        ffmpeg starts ``PREROLL_SECONDS`` (``local_preroll``) before the current track's
        end (at once if that is nearer), and a ``play`` of the same request adopts it;
        anything else drops it."""
        async with self._lock(chat_id):
            session = self._sessions.get(chat_id)
            if session is None:
                return
            if session.preroll is not None and (
                request is None or not session.preroll.matches(request)
            ):
                await self._prerolls.drop(session)
            if request is None or request.is_live or session.preroll is not None:
                return
            try:
                request_inputs(request)
            except MediaError:
                return  # play() will refuse it with the reason
            session.preroll = Preroll(request)
            await self._prerolls.maybe(session, session.run)

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
                await self._prerolls.drop(session)

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

    def message_readers(self, chat_id: int | None) -> list[MessageReader]:
        return [] if self.messages is None else [self.messages]

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

    def frames(self, chat_id: int) -> int:
        """Whole pictures the chat's current decoder delivered (tests and benchmarks)."""
        session = self._sessions.get(chat_id)
        return 0 if session is None or session.run is None else session.run.frames

    def process_ids(self) -> list[int]:
        """The ffmpeg processes alive now (tests check that none is left behind)."""
        procs = [s.run.proc for s in self._sessions.values() if s.run is not None]
        procs += [
            s.preroll.decoder.proc
            for s in self._sessions.values()
            if s.preroll is not None and s.preroll.decoder is not None
        ]
        return [proc.pid for proc in procs if proc.returncode is None]

    # -- internals -------------------------------------------------------------------------

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    def _emit(self, event: EngineEvent) -> None:
        self._events.emit(event)

    async def _spawn(self, job: DecodeJob) -> Decoder:
        """Starts a decoder; a video track's picture gets a pipe of its own (its write end
        passed to ffmpeg as ``pipe:N``, closed here once the child has it)."""

        def args_for(video_pipe: str) -> list[str]:
            return decode_args(self._ffmpeg, job, video_pipe=video_pipe, realtime=False)

        proc, read_fd = await spawn_decoder(args_for, picture=job.video is not None)
        if job.video is None or read_fd is None:
            return Decoder(proc)
        return Decoder(proc, await PicturePipe.open(read_fd, job.video.frame_bytes, job.video.fps))

    async def _launch(self, chat_id: int, session: Session, position: float) -> None:
        assert session.source is not None
        decoder = await self._spawn(
            DecodeJob(
                session.source,
                position=0.0 if session.is_live else position,
                volume=session.volume,
                video=session.video,
                has_audio=session.has_audio,
                audio_source=session.audio_source,
                speed=session.speed,
            )
        )
        self._adopt(chat_id, session, decoder, position)

    def _adopt(self, chat_id: int, session: Session, decoder: Decoder, position: float) -> None:
        run = Run(
            decoder,
            position,
            announce_first_frame=session.has_audio and not session.first_frame_sent,
            announce_first_picture=session.video is not None and not session.first_picture_sent,
            video=session.video,
            has_audio=session.has_audio,
            speed=session.speed,
        )
        session.run = run
        run.task = asyncio.create_task(
            self._pump(chat_id, session, run), name=f"local-engine-{chat_id}"
        )

    async def _pump(self, chat_id: int, session: Session, run: Run) -> None:
        proc = run.proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        stderr_task = asyncio.create_task(keep_tail(proc.stderr, run.stderr))
        picture = run.decoder.picture
        if picture is not None:
            picture.attach(
                lambda new: self._on_frames(chat_id, session, run, new),
                lambda delivered: self._ahead(run, delivered),
            )
        try:
            # a silent video writes nothing here: the read returns at the process's end
            await self._read_sound(chat_id, session, run, proc.stdout)
            code = await proc.wait()
            if picture is not None:
                await picture.done
            await stderr_task
        finally:
            if not stderr_task.done():
                stderr_task.cancel()
            run.decoder.close_picture()
        if run.cancelled or session.run is not run or self._sessions.get(chat_id) is not session:
            return
        session.run = None
        if code == 0:
            self._emit(TrackEnded(chat_id, session.track_id))
        else:
            message = tail_message(bytes(run.stderr), session.media)
            self._emit(TrackFailed(chat_id, session.track_id, message))

    async def _read_sound(
        self, chat_id: int, session: Session, run: Run, stream: asyncio.StreamReader
    ) -> None:
        loop = asyncio.get_running_loop()
        while chunk := await _whole_chunk(stream):
            now = loop.time()
            run.began = now if run.began is None else run.began
            run.bytes_read += len(chunk)
            if run.announce_first_frame and not run.cancelled:
                run.announce_first_frame = False
                session.first_frame_sent = True
                self._emit(FirstFrame(chat_id, session.track_id))
            if session.preroll is not None and not session.preroll.starting:
                await self._prerolls.maybe(session, run)
            if stream.at_eof():
                break  # that was the last chunk: no pacing sleep before the end
            ahead = self._ahead(run, run.bytes_read / BYTES_PER_SECOND)
            if ahead > 0:
                await asyncio.sleep(ahead)

    def _on_frames(self, chat_id: int, session: Session, run: Run, new: int) -> None:
        """Whole pictures arrived on the run's picture pipe (``bot.engines.picture``)."""
        metrics.VIDEO_FRAMES.inc(new)
        if run.announce_first_picture and not run.cancelled:
            run.announce_first_picture = False
            session.first_picture_sent = True
            self._emit(FirstFrame(chat_id, session.track_id, media="video"))
        if not run.has_audio:
            # a silent video's end is its picture's: it decides when the next one starts
            self._prerolls.maybe_soon(session, run)

    @staticmethod
    def _ahead(run: Run, delivered: float) -> float:
        """Seconds the run is ahead of real time after ``delivered`` seconds of sound or
        picture, less ``LEAD_SECONDS`` (> 0: wait).  A halted run is never held back: its
        pipes are read to their end at once (its process is not done before)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        run.began = now if run.began is None else run.began
        if run.cancelled:
            return 0.0
        return delivered - (now - run.began) - LEAD_SECONDS

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process | None) -> None:
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()

    async def _halt(self, session: Session) -> None:
        """Ends the session's process without any event about it."""
        run, session.run = session.run, None
        if run is None:
            return
        run.cancelled = True
        if run.decoder.picture is not None:
            run.decoder.picture.unpace()  # its pipe must reach its end, as stdout does
        await self._kill(run.proc)
        if run.task is not None and run.task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
