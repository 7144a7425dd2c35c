"""Stopping background work: cancelled tasks are awaited, work in flight gets its chance."""

from __future__ import annotations

import asyncio

from bot.tasks import cancel_and_wait, finish_or_cancel


async def test_cancel_and_wait_lets_each_task_clean_up_before_returning() -> None:
    cleaned: list[int] = []

    async def worker(n: int) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # cleanup that itself awaits
            cleaned.append(n)

    tasks = [asyncio.create_task(worker(n)) for n in range(3)]
    await asyncio.sleep(0)
    await cancel_and_wait(tasks)
    assert sorted(cleaned) == [0, 1, 2]
    assert all(task.cancelled() for task in tasks)


async def test_finish_or_cancel_waits_for_quick_work_and_cuts_off_the_rest() -> None:
    quick = asyncio.create_task(asyncio.sleep(0.1, result="done"))
    stuck = asyncio.create_task(asyncio.sleep(60))
    started = asyncio.get_running_loop().time()
    assert await finish_or_cancel([quick, stuck], timeout=0.5) == 1
    assert asyncio.get_running_loop().time() - started < 5
    assert quick.result() == "done"
    assert stuck.cancelled()


async def test_finish_or_cancel_with_nothing_returns_at_once() -> None:
    assert await asyncio.wait_for(finish_or_cancel([], timeout=60), 1) == 0
