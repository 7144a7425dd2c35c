"""The one test clock: ``ManualClock`` only moves when a test says so.

``await advance(seconds)`` wakes sleepers in deadline order (ties: whoever went to sleep
first) and lets each woken task run until it sleeps again or finishes before waking the
next, so what happens at t=30 is over before t=60 is looked at.  It is also a plain clock
callable (``clock()``: Unix seconds; ``clock.utc()``: an aware datetime) for the parts that
take one, and ``clock.now += 5`` jumps without waking anyone (for parts with no sleepers).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(order=True)
class _Sleeper:
    deadline: float
    seq: int
    future: asyncio.Future[None] = field(compare=False)
    task: asyncio.Task[object] | None = field(compare=False)


class ManualClock:
    """A clock that stands still until ``advance``.

    ``settle_timeout`` bounds (in real seconds) how long ``advance`` waits for a woken task
    to reach its next sleep or finish; the woken code may do real I/O (SQLite, Redis) on the
    way, which takes real time, but never minutes.
    """

    def __init__(self, start: float = 1_800_000_000.0, *, settle_timeout: float = 10.0) -> None:
        self._wall_start = start
        self._elapsed = 0.0
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._settle_timeout = settle_timeout

    def time(self) -> float:
        return self._wall_start + self._elapsed

    def __call__(self) -> float:
        return self.time()

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    @property
    def now(self) -> float:
        return self.time()

    @now.setter
    def now(self, value: float) -> None:
        """Jumps to ``value`` without waking sleepers (``advance`` wakes them)."""
        if value < self.time():
            raise ValueError("time does not go backwards")
        self._elapsed = value - self._wall_start

    def monotonic(self) -> float:
        return self._elapsed

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for the clock."""
        return sum(1 for s in self._sleepers if not s.future.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sleeper = _Sleeper(self._elapsed + seconds, next(self._seq), future, asyncio.current_task())
        heapq.heappush(self._sleepers, sleeper)
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    async def advance(self, seconds: float) -> None:
        """Moves time forward, waking every sleeper due on the way, one at a time, in order."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        await self._quiesce()
        target = self._elapsed + seconds
        while self._sleepers and self._sleepers[0].deadline <= target:
            sleeper = heapq.heappop(self._sleepers)
            if sleeper.future.done():  # cancelled while sleeping
                continue
            self._elapsed = max(self._elapsed, sleeper.deadline)
            sleeper.future.set_result(None)
            await self._settle(sleeper.task)
        self._elapsed = target
        await self._quiesce()

    async def until_sleeping(self, count: int) -> None:
        """Waits (real time, bounded) until ``count`` sleeps are pending: background loops
        have reached their first sleep and advancing will reach them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_timeout
        while self.sleeping < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{self.sleeping} sleepers, expected {count}")
            await asyncio.sleep(0.001)

    async def _settle(self, task: asyncio.Task[object] | None) -> None:
        if task is None:
            await self._quiesce()
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_timeout
        await self._quiesce()
        while not task.done() and not self._is_sleeping(task):
            if loop.time() > deadline:
                raise TimeoutError(f"{task.get_name()} neither slept again nor finished")
            await asyncio.sleep(0.001)
        await self._quiesce()

    def _is_sleeping(self, task: asyncio.Task[object]) -> bool:
        return any(s.task is task and not s.future.done() for s in self._sleepers)

    @staticmethod
    async def _quiesce() -> None:
        # Lets freshly created tasks and woken callbacks run up to their next real wait.
        for _ in range(20):
            await asyncio.sleep(0)
