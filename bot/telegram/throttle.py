"""Send budgets: sliding windows per chat and overall, served by priority.

A chat's window is shared by everything the bot sends there; priorities decide who waits
when it is spent.  Minor answers (usage lines, refusals, error sentences) are marked by the
handler with ``minor_answer`` and the Sender serves them last, merged per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from bot.metrics import TELEGRAM_MERGED

Clock = Callable[[], float]


#: send priorities: lower goes first when a chat's budget is spent
NORMAL = 0
MINOR = 1
#: distinct sentences one merged minor answer carries; later ones are dropped
MAX_MERGED = 3

#: the user a minor answer is for, while a handler sends one (see ``minor_answer``)
MINOR_FOR: ContextVar[int | None] = ContextVar("sattva_minor_answer", default=None)


@contextlib.contextmanager
def minor_answer(user_id: int) -> Iterator[None]:
    """Sends inside are minor answers to ``user_id`` (usage, refusal, error sentence)."""
    token = MINOR_FOR.set(user_id)
    try:
        yield
    finally:
        MINOR_FOR.reset(token)


class RateLimiter:
    """A sliding window: at most ``limit`` acquisitions in any ``window`` seconds.

    Waiters are served by priority, then in arrival order; a waiter of lower priority
    (``MINOR``) also leaves the window's last ``reserve`` slots to the others.
    """

    def __init__(
        self, limit: int, window: float, clock: Clock = time.monotonic, *, reserve: int = 0
    ) -> None:
        self.limit = limit
        self.window = window
        self.reserve = min(reserve, limit - 1)
        self._clock = clock
        self._times: deque[float] = deque()
        self._waiters: list[tuple[int, int]] = []  # a heap of (priority, arrival)
        self._arrivals = itertools.count()
        self._changed = asyncio.Condition()

    def delay(self, priority: int = NORMAL) -> float:
        """Seconds until one more acquisition of ``priority`` fits (0: now)."""
        now = self._clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        limit = self.limit - (self.reserve if priority > NORMAL else 0)
        if len(self._times) < limit:
            return 0.0
        return self._times[len(self._times) - limit] + self.window - now

    def take(self) -> float:
        """Takes a slot now and returns 0, or returns the seconds until one is free (and
        takes nothing): for callers that refuse instead of waiting (/play's user rate)."""
        wait = self.delay()
        if wait <= 0:
            self._times.append(self._clock())
        return wait

    async def acquire(self, priority: int = NORMAL) -> None:
        if not self._waiters and self.delay(priority) <= 0:  # the common case: no queue
            self._times.append(self._clock())
            return
        ticket = (priority, next(self._arrivals))
        async with self._changed:
            heapq.heappush(self._waiters, ticket)
            try:
                while True:
                    wait = self.delay(priority)
                    if self._waiters[0] == ticket and wait <= 0:
                        self._times.append(self._clock())
                        return
                    # a timed wait for the slot, woken early when the waiters change
                    with contextlib.suppress(TimeoutError):
                        timeout = wait if self._waiters[0] == ticket else None
                        await asyncio.wait_for(self._changed.wait(), timeout)
            finally:
                self._waiters.remove(ticket)
                heapq.heapify(self._waiters)
                self._changed.notify_all()


@dataclass
class PendingMinor:
    """A minor answer waiting for its chat's budget, which later ones to the user join."""

    texts: list[str]
    result: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def join(self, text: str) -> None:
        if text not in self.texts and len(self.texts) < MAX_MERGED:
            self.texts.append(text)
        TELEGRAM_MERGED.inc()

    def settle(self, result: Any = None, exc: BaseException | None = None) -> None:
        if self.result.done():
            return
        if exc is None:
            self.result.set_result(result)
        elif isinstance(exc, asyncio.CancelledError):
            self.result.cancel()
        else:
            self.result.set_exception(exc)
            self.result.exception()  # joiners see it; nobody joining is not an error
