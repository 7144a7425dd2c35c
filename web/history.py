"""The dashboard's history: the rollup task that fills ``stats_hourly`` and
``GET /api/history?range=24h|7d`` that reads it back.

The live figures (streams, listeners) exist only in the running process, so each node
samples its own every ``web.history_sample_seconds`` into its row of the hour; plays,
failures and chats are recounted from the play history for the last hours at the same
time (and for the whole kept span at start, so hours the process missed are filled in).
The page reads the table, never its own memory: the charts survive reloads and restarts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Settings
from bot.domain.queue import StorageUnavailable
from bot.storage.rollup import HOUR, HourlyStatsRepo
from bot.tasks import cancel_and_wait
from web.auth import session_admin
from web.services import WebServices

log = logging.getLogger(__name__)

RANGES = {"24h": 24, "7d": 7 * 24}
#: every tick recounts this far back: a track's failure lands in the hour it failed, and
#: a row is written when a track starts and closed when it ends
RECOUNT_SECONDS = 2 * HOUR


def rollup_node(settings: Settings) -> str:
    """The node id of this process's rows: the configured one, else (one process) the
    host name, so a restart adds to the same row instead of starting a second one."""
    if settings.cluster.node_id:
        return settings.cluster.node_id
    return settings.node_id() if settings.cluster.enabled else socket.gethostname()


class HistoryRollup:
    """Samples, recounts and prunes; ``tick`` is one round (tests call it directly)."""

    def __init__(self, services: WebServices, *, clock: Callable[[], float] = time.time):
        web = services.settings.web
        self.services = services
        self.repo = HourlyStatsRepo(services.sessionmaker)
        self.node = rollup_node(services.settings)
        self.interval = web.history_sample_seconds
        self.keep_seconds = web.history_keep_days * 24 * HOUR
        self._clock = clock
        self._last_sample: float | None = None
        self._last_prune: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        now = self._clock()
        stats = self.services.players.stats
        # the time this sample stands for: since the last one, no more than two intervals
        # (a loop held up for minutes must not pretend it saw those minutes)
        seconds = 0.0 if self._last_sample is None else now - self._last_sample
        seconds = max(0.0, min(seconds, 2 * self.interval))
        # nothing streaming adds nothing (no peak, no listener-seconds): not written, so
        # an idle bot does not write to the database every interval
        if stats.streams or stats.listeners_total:
            await self.repo.sample(
                self.node,
                now,
                streams=stats.streams,
                listeners=stats.listeners_total,
                seconds=seconds,
            )
        backfill = self._last_sample is None
        self._last_sample = now
        await self.repo.recount(now - (self.keep_seconds if backfill else RECOUNT_SECONDS), now)
        if self._last_prune is None or now - self._last_prune >= HOUR:
            await self.repo.prune(now - self.keep_seconds)
            self._last_prune = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="history-rollup")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except StorageUnavailable as exc:
                log.warning("history rollup: storage unavailable: %s", exc)
            except Exception:
                log.exception("history rollup failed")
            await asyncio.sleep(self.interval)


def history_route(services: WebServices, rollup: HistoryRollup) -> Route:
    async def history(request: Request) -> Response:
        if await session_admin(services, request) is None:
            return JSONResponse({"error": "log in at /admin/login"}, status_code=401)
        name = request.query_params.get("range", "24h")
        hours = RANGES.get(name)
        if hours is None:
            return JSONResponse({"error": "range is 24h or 7d"}, status_code=400)
        try:
            points = await rollup.repo.series(hours)
        except StorageUnavailable:
            return JSONResponse({"error": "storage unavailable"}, status_code=503)
        return JSONResponse(
            {
                "range": name,
                "points": [p.as_dict() for p in points],
                "sample_seconds": rollup.interval,
            },
            headers={"Cache-Control": "no-store"},
        )

    return Route("/api/history", history, methods=["GET"], name="api-history")
