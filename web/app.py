"""Assembles the sidecar's Starlette application from the services it is given."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware

from bot.cluster.view import cluster_view
from web.admin import mount_admin
from web.auth import session_middleware
from web.dashboard import dashboard_routes
from web.health import health_route
from web.history import HistoryRollup
from web.metrics import HttpMetricsMiddleware, install_system_collector, metrics_route
from web.monitoring import MonitoringHub, monitoring_route
from web.security import (
    HostCheckMiddleware,
    OriginCheckMiddleware,
    SecurityHeadersMiddleware,
    allowed_host_names,
)
from web.services import WebServices
from web.webhook import PATH as WEBHOOK_PATH
from web.webhook import webhook_route


def create_app(services: WebServices) -> Starlette:
    web = services.settings.web
    install_system_collector(services.disk_path)
    hub = MonitoringHub(services)
    rollup = HistoryRollup(services)
    own_cluster = services.cluster is None
    cluster = services.cluster or cluster_view(
        services.settings, services.sessionmaker, services.players
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start()
        rollup.start()
        try:
            yield
        finally:
            await rollup.stop()
            await hub.stop()
            if own_cluster:
                await cluster.close()

    app = Starlette(
        routes=[
            health_route(services),
            metrics_route(services),
            monitoring_route(hub),
            *dashboard_routes(hub, rollup, cluster),
            *(
                [webhook_route(services.telegram_webhook)]
                if services.telegram_webhook is not None
                else []
            ),
        ],
        # Outermost first: metrics see every answer, including the Host and Origin refusals.
        middleware=[
            Middleware(HttpMetricsMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                HostCheckMiddleware,
                allowed=allowed_host_names(web.host, _known_names(services)),
            ),
            Middleware(OriginCheckMiddleware, exempt=(WEBHOOK_PATH,)),
            session_middleware(services),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.rollup = rollup
    app.state.services = services
    mount_admin(app, services)
    return app


def _known_names(services: WebServices) -> list[str]:
    """``web.allowed_hosts``, plus the host of ``telegram.webhook_url``: Telegram posts
    updates with that name, which is this service's public name by definition."""
    names = list(services.settings.web.allowed_hosts)
    webhook_host = urlsplit(services.settings.telegram.webhook_url).hostname
    if webhook_host:
        names.append(webhook_host)
    return names
