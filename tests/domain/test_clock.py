"""The manual clock wakes sleepers in deadline order, each run to its next sleep first."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.clock import SystemClock
from tests.support.clock import ManualClock


async def test_sleepers_wake_in_order_and_see_their_own_time() -> None:
    clock = ManualClock(start=1000.0)
    seen: list[tuple[str, float]] = []

    async def ticker(name: str, every: float) -> None:
        while True:
            await clock.sleep(every)
            seen.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(ticker("a", 10)), asyncio.create_task(ticker("b", 25))]
    await clock.until_sleeping(2)
    await clock.advance(50)
    # at 50 both are due: b went to sleep first (at 25, a at 40), so b wakes first
    assert seen == [("a", 10), ("a", 20), ("b", 25), ("a", 30), ("a", 40), ("b", 50), ("a", 50)]
    assert clock.monotonic() == 50
    assert clock.time() == 1050.0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.sleeping == 0


async def test_a_cancelled_sleep_is_not_woken() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper() -> None:
        await clock.sleep(5)
        woke.append("yes")

    task = asyncio.create_task(sleeper())
    await clock.until_sleeping(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await clock.advance(10)
    assert woke == []


async def test_zero_and_negative_sleeps_only_yield() -> None:
    clock = ManualClock()
    await clock.sleep(0)
    await clock.sleep(-3)
    assert clock.monotonic() == 0
    with pytest.raises(ValueError, match="backwards"):
        await clock.advance(-1)


async def test_the_system_clock_is_the_real_one() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    await clock.sleep(0.001)
    assert clock.monotonic() > before
    assert clock.time() > 1_700_000_000
