"""``/healthz``: is the bot polling, does storage answer, is the voice engine up."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.domain.health import HealthProbe, probe_ok
from bot.domain.queue import QueueStore
from bot.engines.base import VoiceEngine
from bot.metrics import HEALTH
from bot.storage.factory import storage_probe
from web.services import HEALTH_PARTS, WebServices

log = logging.getLogger(__name__)


def standard_probes(
    *,
    bot_polling: HealthProbe,
    store: QueueStore,
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: VoiceEngine,
) -> dict[str, HealthProbe]:
    """The probes ``WebServices.health`` expects, from the application's parts ("storage":
    the queue store and the database, ``bot.storage.factory.storage_probe``)."""
    return {
        "bot": bot_polling,
        "storage": storage_probe(store, sessionmaker),
        "engine": engine.healthy,
    }


async def check(services: WebServices) -> dict[str, bool]:
    """Every part's state, also left in ``sattva_health`` so alerts see what /healthz sees."""
    results = await asyncio.gather(
        *(probe_ok(name, services.health.get(name)) for name in HEALTH_PARTS)
    )
    status = {name: up for name, (up, _seen) in zip(HEALTH_PARTS, results, strict=True)}
    for name, ok in status.items():
        HEALTH.labels(name).set(1 if ok else 0)
    return status


def health_route(services: WebServices) -> Route:
    async def healthz(request: Request) -> JSONResponse:
        status = await check(services)
        down = [name for name, ok in status.items() if not ok]
        body: dict[str, Any] = dict(status)
        if services.cluster_status is not None:
            body["cluster"] = services.cluster_status()
        if not down:
            return JSONResponse(body)
        return JSONResponse({**body, "down": down}, status_code=503)

    return Route("/healthz", healthz, methods=["GET"], name="healthz")
