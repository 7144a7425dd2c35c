"""The local engine's pre-roll: the next track's ffmpeg, started ``PREROLL_SECONDS`` before
the current one ends and left waiting, so that the ``play`` of that track adopts a process
whose first audio is already decoded (``bot.engines.local`` says why pacing allows it).

Apart from the engine because these are the processes nobody reads from yet: each must be
killed and its pipes drained when it is not adopted, or it stays alive with them open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from bot.engines.base import EngineError
from bot.engines.decode import DecodeJob, request_job
from bot.engines.local_state import Decoder, Preroll, Run, Session

#: how long before the current track's end the next one's ffmpeg starts
PREROLL_SECONDS = 2.0

Spawn = Callable[[DecodeJob], Awaitable[Decoder]]


class Prerolls:
    """Starts, drops and drains the sessions' pre-rolled decoders (``spawn`` starts one)."""

    def __init__(self, spawn: Spawn) -> None:
        self._spawn = spawn
        #: pre-rolls started from a silent video's picture callback (not awaited there)
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Waits for the pre-rolls still starting (the sessions' own are dropped by the
        engine, which knows them)."""
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @staticmethod
    def due(session: Session, run: Run | None) -> bool:
        """Whether the waiting next track's ffmpeg should start now: the current one is
        near its end or past it, and not paused."""
        preroll = session.preroll
        if preroll is None or preroll.starting or session.paused_at is not None:
            return False
        if run is None:
            return True
        if session.is_live or session.duration is None:
            return False  # no known end: the next one starts after it, as without pre-roll
        return session.duration - run.position() <= PREROLL_SECONDS

    async def maybe(self, session: Session, run: Run | None) -> None:
        """Starts the pre-roll if it is due (and waits until its process runs)."""
        preroll = session.preroll
        if preroll is None or not self.due(session, run):
            return
        preroll.starting = True
        await self._start(session, preroll)

    def maybe_soon(self, session: Session, run: Run) -> None:
        """``maybe`` from a callback that cannot wait (a silent video's picture decides
        when its successor starts)."""
        preroll = session.preroll
        if preroll is None or not self.due(session, run):
            return
        preroll.starting = True
        task = asyncio.create_task(self._start(session, preroll))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, session: Session, preroll: Preroll) -> None:
        request = preroll.request
        try:
            decoder = await self._spawn(request_job(request, request.position))
        except EngineError:  # refused media (MediaError) included
            session.preroll = None  # play() will start it the usual way and report why
            return
        if session.preroll is preroll:
            preroll.decoder = decoder
        else:  # dropped or replaced while it started
            await self.discard(decoder)

    async def drop(self, session: Session) -> None:
        preroll, session.preroll = session.preroll, None
        if preroll is not None:
            await self.discard(preroll.decoder)

    @staticmethod
    async def discard(decoder: Decoder | None) -> None:
        """Kills a pre-rolled decoder nobody read from and reads its pipes to the end:
        asyncio stopped reading them when their buffers filled, and until both pipes
        reach their end the process counts as running and its pipes stay open."""
        if decoder is None:
            return
        decoder.close_picture()
        proc = decoder.proc
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.communicate()  # (``wait`` alone would wait for those ends forever)
