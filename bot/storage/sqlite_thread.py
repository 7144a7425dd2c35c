"""One ``sqlite3`` connection on a thread of its own, which runs whole transactions handed
to it from the event loop: the SQLite queue store's way to the database.

Why a whole transaction a hop: through SQLAlchemy on aiosqlite every DBAPI call (BEGIN,
each statement, each fetch, COMMIT) is a separate hop to aiosqlite's thread plus the ORM's
per-call work, about 60 hops a queue cycle, where the cost that cannot be avoided is the
commit's fsync.  Here a transaction is one plain function run on the thread, so a call
costs one hop and one fsync, like a single autocommit statement.

Why a bare thread fed by a ``SimpleQueue`` rather than ``run_in_executor``: the executor's
hand-over (a work item, a ``concurrent.futures.Future`` chained to an asyncio one by
callbacks, the pool's idle bookkeeping) cost ~100 µs a call here against ~40 µs for a queue
put and one ``call_soon_threadsafe`` back (aiosqlite's own way), and a queue cycle makes
three calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from bot.storage.database import SQLITE_BUSY_TIMEOUT_MS

T = TypeVar("T")
Db = sqlite3.Connection
#: what the thread is handed: where the result goes, how to begin (``None``: no
#: transaction), what to run
_Call = tuple["asyncio.Future[T]", str | None, Callable[[Db], T]]


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.cancelled():  # the caller gave up; the work is done all the same
        future.set_result(result)


def _fail(future: asyncio.Future[T], exc: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(exc)


class SqliteThread:
    """``write`` runs a function in a ``BEGIN IMMEDIATE`` transaction, ``read`` in a plain
    (snapshot) one, one at a time in the order they were called.  The thread starts with
    the first call and is a daemon: a process that exits without ``close`` leaves at most a
    transaction that SQLite rolls back or has committed, as after a crash."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._calls: queue.SimpleQueue[_Call[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: Db | None = None

    def _connect(self) -> Db:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in (  # the application engine's pragmas (bot.storage.database)
                "PRAGMA foreign_keys=ON",
                f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
            ):
                db.execute(pragma)
        except BaseException:
            db.close()
            raise
        return db

    def _call(self, begin: str | None, fn: Callable[[Db], T]) -> T:
        if self._db is None:
            self._db = self._connect()
        db = self._db
        if begin is None:  # not a transaction: closing
            return fn(db)
        db.execute(begin)
        try:
            result = fn(db)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _work(self) -> None:
        """The thread: runs the calls in the order they were queued until ``None``."""
        while (call := self._calls.get()) is not None:
            future, begin, fn = call
            try:
                settle = functools.partial(_succeed, future, self._call(begin, fn))
            except BaseException as exc:  # handed to the caller, whatever it is
                settle = functools.partial(_fail, future, exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: no one to tell
                future.get_loop().call_soon_threadsafe(settle)

    def _submit(self, begin: str | None, fn: Callable[[Db], T]) -> asyncio.Future[T]:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="sattva-queue-sqlite", daemon=True
            )
            self._thread.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((future, begin, fn))
        return future

    # plain functions handing back the future: a coroutine around it would be one more
    # frame to create and resume on every operation
    def write(self, fn: Callable[[Db], T]) -> asyncio.Future[T]:
        return self._submit("BEGIN IMMEDIATE", fn)

    def read(self, fn: Callable[[Db], T]) -> asyncio.Future[T]:
        return self._submit("BEGIN", fn)

    async def close(self) -> None:
        """Runs after every call already queued; the thread then ends."""
        if self._thread is None:
            return

        def shut(db: Db) -> None:
            db.close()
            self._db = None

        try:
            await self._submit(None, shut)
        finally:
            self._calls.put(None)
            self._thread = None
