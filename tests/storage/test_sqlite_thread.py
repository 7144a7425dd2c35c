"""``SqliteThread``: calls run one at a time in the order they were made, a
failure reaches its caller and rolls its transaction back, a caller that gives up does not
stop the thread, and ``close`` waits for what was queued before it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.storage.sqlite_thread import SqliteThread


@pytest.fixture
async def queue(tmp_path: Path) -> SqliteThread:
    db = SqliteThread(str(tmp_path / "q.db"))
    await db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))
    return db


async def test_calls_run_in_the_order_they_were_made(queue: SqliteThread) -> None:
    def insert(n: int) -> Callable[[sqlite3.Connection], int]:
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (n,)).rowcount

    writes = [queue.write(insert(n)) for n in range(50)]
    assert await asyncio.gather(*writes) == [1] * 50
    rows = await queue.read(lambda c: [r[0] for r in c.execute("SELECT n FROM t ORDER BY rowid")])
    assert rows == list(range(50))
    await queue.close()


async def test_a_failure_reaches_the_caller_and_rolls_back(queue: SqliteThread) -> None:
    def half_then_fail(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing"):
        await queue.write(half_then_fail)
    assert await queue.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    await queue.close()


async def test_a_caller_that_gives_up_leaves_the_thread_working(queue: SqliteThread) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(c: sqlite3.Connection) -> None:
        started.set()
        release.wait(5)
        c.execute("INSERT INTO t VALUES (7)")

    waiter = asyncio.ensure_future(queue.write(slow))
    await asyncio.to_thread(started.wait, 5)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    # the cancelled call still commits, and the next call is answered
    assert await queue.read(lambda c: c.execute("SELECT n FROM t").fetchall()) == [(7,)]
    await queue.close()


async def test_close_waits_for_queued_calls_and_ends_the_thread(queue: SqliteThread) -> None:
    thread = queue._thread
    assert thread is not None
    assert thread.name == "sattva-queue-sqlite"
    pending = queue.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await asyncio.gather(pending, queue.close())
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
    # a closed queue opens again on use, as a restarted store would
    assert await queue.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    await queue.close()
