"""What every benchmark shares: the result line, targets, percentiles, scratch servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import statistics
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.engines.base import EngineEvent, TrackEnded
from bot.engines.local import LocalEngine
from bot.storage.database import create_engine, migrate
from tests.support.locales import compile_locales
from tests.support.procs import RedisServer


@dataclass
class Result:
    """One benchmark's outcome: the JSON line, plus table rows shown above it."""

    bench: str
    ours: float
    baseline: float
    target: str  # ">=0.7", "<=2.0", ... compared with ``ratio``
    unit: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else math.inf

    @property
    def met(self) -> bool:
        return meets(self.ratio, self.target)

    def line(self) -> dict[str, object]:
        return {
            "bench": self.bench,
            "ours": round(self.ours, 6),
            "baseline": round(self.baseline, 6),
            "ratio": round(self.ratio, 4),
            "target": self.target,
            "met": self.met,
            "unit": self.unit,
        }

    def print(self) -> None:
        rows = [*self.rows, ("ratio (ours / baseline)", f"{self.ratio:.3f}")]
        rows.append(("target", f"{self.target} -> {'met' if self.met else 'NOT met'}"))
        width = max(len(label) for label, _ in rows)
        print(f"== {self.bench} ({self.unit})")
        for label, value in rows:
            print(f"  {label.ljust(width)}  {value}")
        for note in self.notes:
            print(f"  note: {note}")
        print(json.dumps(self.line()), flush=True)


def meets(ratio: float, target: str) -> bool:
    """``target`` is ``>=x`` or ``<=x`` (a trailing unit, if any, is ignored)."""
    op, number = target[:2], float(target[2:].split()[0])
    if op == ">=":
        return ratio >= number
    if op == "<=":
        return ratio <= number
    raise ValueError(f"bad target {target!r}")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest rank: a value that really occurred."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def raise_fd_limit(wanted: int) -> int:
    """Raises the soft open-files limit towards ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sattva-bench-") as name:
        yield Path(name)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A private redis-server (AOF on, fsync always: what the README asks of deployments)."""
    server = RedisServer(workdir / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def locales(workdir: Path) -> Path:
    return compile_locales(workdir / "locales")


async def migrated_database(workdir: Path) -> Path:
    """A SQLite file with the current schema, for a bot (or child process) to open."""
    database = workdir / "bot.db"
    db = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(db)
    await db.dispose()
    return database


@contextlib.asynccontextmanager
async def local_engine(
    tracks: int, until: type[EngineEvent] = TrackEnded
) -> AsyncIterator[tuple[LocalEngine, asyncio.Event]]:
    """A started local engine and an event set once ``tracks`` chats have each reported
    ``until`` (the benchmarks play one track per chat, all at once); closed on exit."""
    engine = LocalEngine()
    seen: set[int] = set()
    done = asyncio.Event()

    async def handler(event: EngineEvent) -> None:
        if isinstance(event, until):
            seen.add(event.chat_id)
            if len(seen) == tracks:
                done.set()

    engine.set_handler(handler)
    await engine.start()
    try:
        yield engine, done
    finally:
        await engine.close()


async def alternating(
    one: Callable[[int], Awaitable[tuple[float, float]]], samples: int, *, warm_up: int = 2
) -> tuple[list[float], list[float]]:
    """Ours and the floor's figures from ``samples`` rounds of ``one(i)``, which measures
    both sides back to back; the first ``warm_up`` rounds are not counted (they warm both
    paths: imports, caches, the media server's first connections)."""
    ours: list[float] = []
    floor: list[float] = []
    for i in range(samples + warm_up):
        mine, bare = await one(i)
        if i >= warm_up:
            ours.append(mine)
            floor.append(bare)
    return ours, floor


def median_result(
    bench: str,
    ours: Sequence[float],
    floor: Sequence[float],
    *,
    target: str,
    unit: str,
    samples: str,
    labels: tuple[str, str],
) -> Result:
    """A latency benchmark's result: the median of each side, the rows in milliseconds
    (``labels``: what ours and the floor measured)."""
    ours_median, floor_median = median(ours), median(floor)
    return Result(
        bench=bench,
        ours=ours_median,
        baseline=floor_median,
        target=target,
        unit=unit,
        rows=[
            ("samples", samples),
            (labels[0], f"{ms(ours_median)} median"),
            (labels[1], f"{ms(floor_median)} median"),
        ],
    )
