"""Background-task housekeeping shared by every part that owns long-running tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancels every task, then waits for each to finish.

    Waiting matters: a task cancelled but not awaited may still be running its cleanup when
    the resources it uses (store, engine, sockets) are closed under it.  Exceptions other
    than the cancellation are left to the task's own handling; here they only must not stop
    the others from being awaited.
    """
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


#: how long a stop (of the process, of polling, of an account given back) lets the work in
#: flight finish before cutting it off
DRAIN_SECONDS = 10.0


async def finish_or_cancel(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> int:
    """Lets ``tasks`` finish within ``timeout`` seconds, then cancels and awaits the rest;
    returns how many were cut off.  For a stop: the work in flight (a command's handler)
    gets its chance to end with its effect and its answer, but cannot hold the stop up."""
    pending = set(tasks)
    if not pending:
        return 0
    _done, late = await asyncio.wait(pending, timeout=timeout)
    await cancel_and_wait(late)
    return len(late)
