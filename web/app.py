"""Assembles the sidecar's Starlette application from the services it is given."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from web.admin import mount_admin
from web.auth import session_middleware
from web.dashboard import dashboard_routes
from web.health import health_route
from web.metrics import HttpMetricsMiddleware, install_system_collector, metrics_route
from web.monitoring import MonitoringHub, monitoring_route
from web.security import OriginCheckMiddleware, SecurityHeadersMiddleware
from web.services import WebServices
from web.webhook import PATH as WEBHOOK_PATH
from web.webhook import webhook_route


def create_app(services: WebServices) -> Starlette:
    install_system_collector(services.disk_path)
    hub = MonitoringHub(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = Starlette(
        routes=[
            health_route(services),
            metrics_route(services),
            monitoring_route(hub),
            *dashboard_routes(hub),
            *(
                [webhook_route(services.telegram_webhook)]
                if services.telegram_webhook is not None
                else []
            ),
        ],
        # Outermost first: metrics see every answer, including the Origin refusals.
        middleware=[
            Middleware(HttpMetricsMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(OriginCheckMiddleware, exempt=(WEBHOOK_PATH,)),
            session_middleware(services),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.services = services
    mount_admin(app, services)
    return app
