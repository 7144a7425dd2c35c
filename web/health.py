"""``/healthz``: is the bot polling, does storage answer, is the voice engine up."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.engines.base import VoiceEngine
from bot.metrics import HEALTH
from bot.storage.queue import QueueStore
from web.services import HEALTH_PARTS, HealthProbe, WebServices

PROBE_TIMEOUT_SECONDS = 3.0
log = logging.getLogger(__name__)


async def _probe(name: str, probe: HealthProbe | None) -> bool:
    if probe is None:
        return False
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            return bool(await probe())
    except Exception as exc:  # a failing probe means "down", whatever it raised
        log.warning("health probe %s failed: %s", name, exc.__class__.__name__)
        return False


def standard_probes(
    *,
    bot_polling: HealthProbe,
    store: QueueStore,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: VoiceEngine,
) -> dict[str, HealthProbe]:
    """The probes ``WebServices.health`` expects, from the application's parts.

    "storage" covers both the queue store (Redis or the database) and the database the
    panel and the history use: with Redis queues, the two can fail apart.
    """

    async def storage() -> bool:
        await store.ping()
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        return True

    return {"bot": bot_polling, "storage": storage, "engine": engine.healthy}


async def check(services: WebServices) -> dict[str, bool]:
    """Every part's state, also left in ``sattva_health`` so alerts see what /healthz sees."""
    results = await asyncio.gather(
        *(_probe(name, services.health.get(name)) for name in HEALTH_PARTS)
    )
    status = dict(zip(HEALTH_PARTS, results, strict=True))
    for name, ok in status.items():
        HEALTH.labels(name).set(1 if ok else 0)
    return status


def health_route(services: WebServices) -> Route:
    async def healthz(request: Request) -> JSONResponse:
        status = await check(services)
        down = [name for name, ok in status.items() if not ok]
        if not down:
            return JSONResponse(status)
        return JSONResponse({**status, "down": down}, status_code=503)

    return Route("/healthz", healthz, methods=["GET"], name="healthz")
