"""Auto-end: a stream nobody listens to is ended after a while.

Listener counts arrive two ways: engine events (``ListenersChanged``) and a periodic
``engine.listeners`` poll, because participant updates from Telegram are not reliable.
Both feed ``observe``.  Counts never include the assistant (engines report without it).

Timers are absolute deadlines on the Clock, so a late-starting timer task still ends the
stream on time.  Once the end has begun it is no longer cancellable: a listener joining in
the last instant cannot interrupt a half-done stop.  24/7 chats (``always_on``) are never
auto-ended: staying on is the point of that mode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.domain.clock import Clock
from bot.domain.events import AutoEndWarning, EventBus
from bot.domain.policy import PlayerPolicy
from bot.domain.ports import ChatSettingsSource
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

EndStream = Callable[[int], Awaitable[None]]


class AutoEnd:
    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        settings: ChatSettingsSource,
        config: PlayerPolicy,
        end: EndStream,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._settings = settings
        self._config = config
        self._end = end
        self._timers: dict[int, asyncio.Task[None]] = {}
        # Bumped by every cancel, so an observe that was waiting on the settings lookup
        # while someone joined does not arm a timer afterwards.
        self._generation: dict[int, int] = {}

    def armed(self, chat_id: int) -> bool:
        return chat_id in self._timers

    async def observe(self, chat_id: int, count: int | None, *, streaming: bool) -> None:
        """Feeds a listener count; ``None`` (unknown) changes nothing."""
        if not streaming:
            self.cancel(chat_id)
            return
        if count is None:
            return
        if count > 0:
            self.cancel(chat_id)
            return
        if chat_id in self._timers:
            return
        generation = self._generation.get(chat_id, 0)
        seconds = await self._limit(chat_id)
        if seconds <= 0 or chat_id in self._timers:
            return
        if self._generation.get(chat_id, 0) != generation:
            return
        deadline = self._clock.monotonic() + seconds
        self._timers[chat_id] = asyncio.create_task(
            self._run(chat_id, deadline, seconds), name=f"auto-end-{chat_id}"
        )

    def cancel(self, chat_id: int) -> None:
        self._generation[chat_id] = self._generation.get(chat_id, 0) + 1
        task = self._timers.pop(chat_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._timers.values())
        self._timers.clear()
        await cancel_and_wait(tasks)

    async def _limit(self, chat_id: int) -> int:
        try:
            settings = await self._settings.get(chat_id)
        except Exception:
            log.warning("chat settings unavailable for %s; default auto-end", chat_id)
            return self._config.auto_end_seconds
        if settings.always_on:
            return 0
        if settings.auto_end_seconds is not None:
            return settings.auto_end_seconds
        return self._config.auto_end_seconds

    async def _run(self, chat_id: int, deadline: float, seconds: int) -> None:
        warning = min(self._config.auto_end_warning_seconds, seconds)
        if warning > 0:
            await self._clock.sleep(deadline - warning - self._clock.monotonic())
            self._bus.publish(AutoEndWarning(chat_id=chat_id, seconds_left=warning))
        await self._clock.sleep(deadline - self._clock.monotonic())
        if self._timers.get(chat_id) is not asyncio.current_task():
            return
        del self._timers[chat_id]  # from here on, cancel() no longer reaches this end
        try:
            await self._end(chat_id)
        except Exception:
            log.exception("auto-end of chat %s failed", chat_id)
