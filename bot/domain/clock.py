"""Time as a dependency, so that timers (auto-end, checkpoints) can be tested without waiting.

``SystemClock`` is the real one; the tests' ``ManualClock`` (``tests/support/clock.py``) only
moves when a test says so.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock Unix seconds: what the queue store records."""

    def monotonic(self) -> float:
        """For measuring intervals and deadlines."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
