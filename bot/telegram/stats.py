"""The numbers /stats shows: from the players and this process (psutil)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psutil

from bot.domain.control import Players, PlayerState


@dataclass(frozen=True, slots=True)
class RuntimeStats:
    """What /stats shows (owners only)."""

    active_chats: int
    streams: int
    queued: dict[int, int]
    uptime_seconds: float
    cpu_percent: float
    memory_mb: float


StatsProvider = Callable[[], Awaitable[RuntimeStats]]


def stats_provider(players: Players, started_at: float) -> StatsProvider:
    process = psutil.Process()
    process.cpu_percent(None)  # the first reading primes the counter

    async def collect() -> RuntimeStats:
        chats = players.active_chats()
        queued: dict[int, int] = {}
        streams = 0
        for chat_id in chats:
            snapshot = await players.snapshot(chat_id)
            queued[chat_id] = len(snapshot.pending)
            if snapshot.state is not PlayerState.IDLE:
                streams += 1
        return RuntimeStats(
            active_chats=len(chats),
            streams=streams,
            queued=queued,
            uptime_seconds=time.time() - started_at,
            cpu_percent=process.cpu_percent(None),
            memory_mb=process.memory_info().rss / (1024 * 1024),
        )

    return collect
