"""When audio leaves ffmpeg: every child's first and last non-empty stdout read, timed.

The local engine reads its ffmpeg's stdout in its own task and says nothing about the last
frame, so the benchmarks wrap ``asyncio.create_subprocess_exec`` (the call the engine and
the baselines both use) and time the reads on the process's stdout.  Both sides of a
comparison are measured by this same wrapper; nothing in bot/ is changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Spawn:
    """One child process as the wrapper saw it (monotonic seconds)."""

    args: tuple[str, ...]
    spawned: float
    pid: int
    first_read: float | None = None
    last_read: float | None = None
    bytes_read: int = 0

    @property
    def program(self) -> str:
        return self.args[0].rsplit("/", 1)[-1] if self.args else ""


class SpawnLog:
    def __init__(self) -> None:
        self.spawns: list[Spawn] = []

    def of(self, program: str, since: int = 0) -> list[Spawn]:
        return [s for s in self.spawns[since:] if s.program == program]

    def mark(self) -> int:
        return len(self.spawns)


def _timed(reader: asyncio.StreamReader, spawn: Spawn) -> None:
    """Times ``read`` (the baselines) and ``readexactly`` (the local engine reads whole
    chunks, the last one partial: ``IncompleteReadError`` carries it)."""
    original_read, original_exactly = reader.read, reader.readexactly

    def seen(data: bytes) -> None:
        if data:
            now = time.monotonic()
            if spawn.first_read is None:
                spawn.first_read = now
            spawn.last_read = now
            spawn.bytes_read += len(data)

    async def read(n: int = -1) -> bytes:
        data = await original_read(n)
        seen(data)
        return data

    async def readexactly(n: int) -> bytes:
        try:
            data = await original_exactly(n)
        except asyncio.IncompleteReadError as exc:
            seen(exc.partial)
            raise
        seen(data)
        return data

    reader.read = read  # type: ignore[method-assign]
    reader.readexactly = readexactly  # type: ignore[method-assign]


@contextlib.contextmanager
def watch_spawns() -> Iterator[SpawnLog]:
    """Records every ``asyncio.create_subprocess_exec`` while active."""
    log = SpawnLog()
    original = asyncio.create_subprocess_exec

    async def spawn(program: Any, *args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        started = time.monotonic()
        proc = await original(program, *args, **kwargs)
        record = Spawn(tuple(str(a) for a in (program, *args)), started, proc.pid)
        log.spawns.append(record)
        if proc.stdout is not None:
            _timed(proc.stdout, record)
        return proc

    asyncio.create_subprocess_exec = spawn
    try:
        yield log
    finally:
        asyncio.create_subprocess_exec = original
