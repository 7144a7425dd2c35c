"""The hourly rollup behind the dashboard's history (table ``stats_hourly``).

Two kinds of rows share the table, keyed by (hour, node):

- a node's row (``node`` = its id) holds what only the running process knows: how many
  streams and listeners it had, sampled every few seconds.  Peaks are maxima; the
  ``*_seconds`` columns integrate the samples over time (listeners x seconds), so the
  hour's average is that integral over the hour's length, right however many samples were
  taken, however many nodes shared the hour, and across a restart in the middle of it.
- the cluster row (``node`` = ``CLUSTER``, the empty id) holds plays, failures and chats,
  counted from the play history, which every node shares.  Any node may recount an hour:
  the result is the same, and the upsert makes the last one win.

Plays and chats are bucketed by when a track started, failures by when it failed
(``ended_at``), so recounting the last hours catches every failure however long its track
played.  Rows older than the kept span are deleted by ``prune``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import EndReason
from bot.storage.database import insert_for
from bot.storage.orm import HourlyStats, PlayHistory
from bot.storage.repos import Repo

HOUR = 3600
#: the ``node`` of the rows counted from the play history
CLUSTER = ""
#: hours written per transaction: a backfill of weeks must not hold SQLite's write lock
#: for long (the panel and the player wait behind it)
WRITE_BATCH = 48


def hour_of(at: float) -> int:
    """The start of the UTC hour holding ``at`` (Unix seconds)."""
    return int(at // HOUR * HOUR)


def _unix(at: datetime | None) -> float | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if at is None:
        return None
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at).timestamp()


@dataclass(frozen=True, slots=True)
class HourPoint:
    """One hour of history as the dashboard charts it."""

    hour: int
    plays: int
    failures: int
    #: chats that started a track in this hour
    chats: int
    streams_peak: int
    streams_avg: float
    listeners_peak: int
    listeners_avg: float
    #: nodes that sampled live figures in this hour (0: no process was running)
    nodes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "hour": self.hour,
            "plays": self.plays,
            "failures": self.failures,
            "chats": self.chats,
            "streams": self.streams_peak,
            "streams_avg": round(self.streams_avg, 2),
            "listeners": self.listeners_peak,
            "listeners_avg": round(self.listeners_avg, 2),
            "nodes": self.nodes,
        }


class HourlyStatsRepo(Repo):
    async def sample(
        self, node: str, at: float, *, streams: int, listeners: int, seconds: float
    ) -> None:
        """Adds one sample of this node's live figures, standing for ``seconds`` of time."""
        table = HourlyStats.__table__
        async with self._transaction(write=True) as session:
            insert = self._insert(session)
            statement = insert(HourlyStats).values(
                hour=hour_of(at),
                node=node,
                stream_peak=streams,
                listener_peak=listeners,
                stream_seconds=streams * seconds,
                listener_seconds=listeners * seconds,
                plays=0,
                failures=0,
                chats=0,
                updated_at=at,
            )
            new = statement.excluded
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["hour", "node"],
                    set_={
                        "stream_peak": _greater(new.stream_peak, table.c.stream_peak),
                        "listener_peak": _greater(new.listener_peak, table.c.listener_peak),
                        "stream_seconds": table.c.stream_seconds + new.stream_seconds,
                        "listener_seconds": table.c.listener_seconds + new.listener_seconds,
                        "updated_at": new.updated_at,
                    },
                )
            )

    async def recount(self, since: float, now: float) -> int:
        """Counts plays, failures and chats of every hour from ``since``'s to ``now``'s
        afresh from the play history and stores those that differ from what is stored (a
        missing hour counts as zeros); returns how many hours were written.

        Writing only the changes keeps an idle bot from writing at all: on SQLite every
        write competes for the one write lock with the panel's and the player's."""
        first, last = hour_of(since), hour_of(now)
        start = datetime.fromtimestamp(first, UTC)
        query = select(
            PlayHistory.chat_id,
            PlayHistory.started_at,
            PlayHistory.ended_at,
            PlayHistory.end_reason,
        ).where(or_(PlayHistory.started_at >= start, PlayHistory.ended_at >= start))
        stored = select(
            HourlyStats.hour, HourlyStats.plays, HourlyStats.failures, HourlyStats.chats
        ).where(HourlyStats.node == CLUSTER, HourlyStats.hour >= first, HourlyStats.hour <= last)
        plays: dict[int, int] = defaultdict(int)
        failures: dict[int, int] = defaultdict(int)
        chats: dict[int, set[int]] = defaultdict(set)
        async with self._transaction() as session:
            for chat_id, started_at, ended_at, reason in await session.execute(query):
                began = _unix(started_at)
                if began is not None and began >= first:
                    plays[hour_of(began)] += 1
                    chats[hour_of(began)].add(chat_id)
                ended = _unix(ended_at)
                if reason == EndReason.ERROR.value and ended is not None and ended >= first:
                    failures[hour_of(ended)] += 1
            have = {hour: (p, f, c) for hour, p, f, c in await session.execute(stored)}
        changed = [
            (hour, counts)
            for hour in range(first, last + 1, HOUR)
            if (counts := (plays[hour], failures[hour], len(chats[hour])))
            != have.get(hour, (0, 0, 0))
        ]
        for i in range(0, len(changed), WRITE_BATCH):
            await self._store_counts(changed[i : i + WRITE_BATCH], now)
        return len(changed)

    async def _store_counts(
        self, hours: list[tuple[int, tuple[int, int, int]]], now: float
    ) -> None:
        async with self._transaction(write=True) as session:
            insert = self._insert(session)
            for hour, (played, failed, chatted) in hours:
                counts = {"plays": played, "failures": failed, "chats": chatted, "updated_at": now}
                statement = insert(HourlyStats).values(
                    hour=hour,
                    node=CLUSTER,
                    stream_peak=0,
                    listener_peak=0,
                    stream_seconds=0.0,
                    listener_seconds=0.0,
                    **counts,
                )
                await session.execute(
                    statement.on_conflict_do_update(index_elements=["hour", "node"], set_=counts)
                )

    async def prune(self, before: float) -> int:
        """Deletes the hours that began before ``before``; returns how many rows went."""
        async with self._transaction(write=True) as session:
            result = await session.execute(
                delete(HourlyStats).where(HourlyStats.hour < hour_of(before))
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def series(self, hours: int, now: float | None = None) -> list[HourPoint]:
        """The last ``hours`` hours, oldest first, the current (partial) hour last; an
        hour without rows is all zeros."""
        now = time.time() if now is None else now
        last = hour_of(now)
        first = last - (hours - 1) * HOUR
        query = select(HourlyStats).where(HourlyStats.hour >= first, HourlyStats.hour <= last)
        async with self._transaction() as session:
            rows = list((await session.scalars(query)).all())
        by_hour: dict[int, list[HourlyStats]] = defaultdict(list)
        for row in rows:
            by_hour[row.hour].append(row)
        return [
            _point(hour, by_hour.get(hour, []), min(HOUR, max(1.0, now - hour)))
            for hour in range(first, last + 1, HOUR)
        ]

    @staticmethod
    def _insert(session: AsyncSession) -> Any:
        return insert_for(session.get_bind().dialect.name)


def _greater(a: Any, b: Any) -> Any:
    """``max(a, b)`` in SQL that SQLite and PostgreSQL both read the same way."""
    return case((a > b, a), else_=b)


def _point(hour: int, rows: list[HourlyStats], span: float) -> HourPoint:
    """One hour from its rows; ``span``: how much of the hour has passed (all of it for a
    past hour), which the averages are taken over."""
    counted = next((r for r in rows if r.node == CLUSTER), None)
    nodes = [r for r in rows if r.node != CLUSTER]
    return HourPoint(
        hour=hour,
        plays=counted.plays if counted else 0,
        failures=counted.failures if counted else 0,
        chats=counted.chats if counted else 0,
        # each node's own peak, added up: exact for one node, an upper bound for several
        # (they need not have peaked at the same moment)
        streams_peak=sum(r.stream_peak for r in nodes),
        streams_avg=sum(r.stream_seconds for r in nodes) / span,
        listeners_peak=sum(r.listener_peak for r in nodes),
        listeners_avg=sum(r.listener_seconds for r in nodes) / span,
        nodes=len(nodes),
    )
