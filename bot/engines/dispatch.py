"""Delivery of engine events to the one handler, in order, from a task of its own.

The handler (the player manager) reacts to an end by playing the next track, which calls
back into the engine; delivering from a separate task means that call never waits on the
code that noticed the end, and a failing handler cannot break the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.engines.base import EngineEvent, EventHandler

log = logging.getLogger(__name__)


class EventDispatcher:
    def __init__(self, name: str) -> None:
        self._name = name
        self._handler: EventHandler | None = None
        self._queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def set_handler(self, handler: EventHandler) -> None:
        self._handler = handler

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self._name}-events")

    def emit(self, event: EngineEvent) -> None:
        self._queue.put_nowait(event)

    async def close(self) -> None:
        """Delivers what is already queued, then stops."""
        task, self._task = self._task, None
        if task is None:
            return
        self._queue.put_nowait(None)
        if task is asyncio.current_task():
            return  # closed from inside the handler: the loop ends after this event
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while (event := await self._queue.get()) is not None:
            if self._handler is None:
                continue
            try:
                await self._handler(event)
            except Exception:
                log.exception("engine event handler failed on %s", type(event).__name__)
