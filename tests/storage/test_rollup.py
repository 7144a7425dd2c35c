"""The hourly rollup (stats_hourly) on SQLite and PostgreSQL: samples, recounts, series,
pruning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.database import session_factory
from bot.storage.orm import HourlyStats, PlayHistory
from bot.storage.rollup import HOUR, HourlyStatsRepo, hour_of

# a fixed hour, so the test does not depend on when it runs
H = 1_800_000_000 // HOUR * HOUR


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_samples_give_peaks_and_time_weighted_averages(migrated: AsyncEngine) -> None:
    repo = HourlyStatsRepo(session_factory(migrated))
    # node a: 30 min at 1 stream / 2 listeners, then 30 min at 3 / 6
    for minute in range(0, 60, 10):
        streams, listeners = (1, 2) if minute < 30 else (3, 6)
        await repo.sample("a", H + minute * 60, streams=streams, listeners=listeners, seconds=600)
    # node b (another process) ran only the last 15 minutes, with 4 listeners
    await repo.sample("b", H + 45 * 60, streams=1, listeners=4, seconds=900)
    # the next hour: a restart of node a; the first sample stands for no time yet
    await repo.sample("a", H + HOUR + 5, streams=1, listeners=1, seconds=0)
    points = await repo.series(3, now=H + HOUR + 30 * 60)
    assert [p.hour for p in points] == [H - HOUR, H, H + HOUR]
    empty, full, current = points
    assert (empty.nodes, empty.listeners_peak, empty.listeners_avg) == (0, 0, 0.0)
    assert (full.nodes, full.streams_peak, full.listeners_peak) == (2, 3 + 1, 6 + 4)
    # (2 x 30 + 6 x 30) / 60 listeners from a, plus 4 x 15 / 60 from b
    assert full.listeners_avg == pytest.approx(4 + 1)
    assert full.streams_avg == pytest.approx(2 + 0.25)
    assert (current.streams_peak, current.listeners_peak, current.listeners_avg) == (1, 1, 0)
    assert full.as_dict()["listeners"] == 10


async def test_recount_buckets_plays_by_start_and_failures_by_end(migrated: AsyncEngine) -> None:
    sessions = session_factory(migrated)
    repo = HourlyStatsRepo(sessions)
    plays = [  # (chat, started, ended, reason)
        (1, H + 60, H + 120, "finished"),
        (1, H + 200, None, None),  # still playing
        (2, H + 300, H + HOUR + 10, "error"),  # failed in the next hour
        (2, H - HOUR + 5, H - HOUR + 50, "error"),
        (3, H - 5 * HOUR, H - 5 * HOUR + 9, "error"),  # before the recounted span
    ]
    async with sessions() as session:
        for i, (chat, started, ended, reason) in enumerate(plays):
            session.add(
                PlayHistory(
                    chat_id=chat,
                    track_id=f"t{i}",
                    title="x",
                    source="x",
                    kind="url",
                    started_at=at(started),
                    ended_at=None if ended is None else at(ended),
                    end_reason=reason,
                )
            )
        await session.commit()
    now = H + HOUR + 100
    assert await repo.recount(H - 3 * HOUR, now) == 3  # the three hours with plays
    assert await repo.recount(H - 3 * HOUR, now) == 0  # again: nothing changed, not doubled
    before, hour, after = await repo.series(3, now=now)
    assert (before.plays, before.failures, before.chats) == (1, 1, 1)
    assert (hour.plays, hour.failures, hour.chats) == (3, 0, 2)
    assert (after.plays, after.failures, after.chats) == (0, 1, 0)
    # counts and samples of one hour live side by side
    await repo.sample("a", H + 30, streams=2, listeners=5, seconds=60)
    hour = (await repo.series(3, now=now))[1]
    assert (hour.plays, hour.listeners_peak, hour.nodes) == (3, 5, 1)


async def test_prune_drops_hours_before_the_kept_span(migrated: AsyncEngine) -> None:
    sessions = session_factory(migrated)
    repo = HourlyStatsRepo(sessions)
    for hours_ago in (0, 1, 24 * 8, 24 * 40):
        await repo.sample("a", H - hours_ago * HOUR, streams=1, listeners=1, seconds=60)
    assert await repo.prune(H - (24 * 8 - 1) * HOUR) == 2  # the 8- and 40-day-old hours
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(HourlyStats))
        oldest = await session.scalar(select(func.min(HourlyStats.hour)))
    assert left == 2
    assert oldest == hour_of(H - HOUR)
