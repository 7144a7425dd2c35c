"""The live dashboard at ``/``: one static page fed by /api/state and the WebSocket."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.domain.control import ChatSnapshot
from web.auth import session_admin
from web.monitoring import MonitoringHub

STATIC_DIR = Path(__file__).parent / "static"
# The page shows this many chats in detail; the totals still count every chat.
MAX_CHATS = 200


def snapshot_json(snap: ChatSnapshot, now: float) -> dict[str, Any]:
    track = snap.now.track if snap.now else None
    return {
        "chat_id": snap.chat_id,
        "state": snap.state.value,
        "title": track.title if track else None,
        "duration": track.duration if track else None,
        "position": snap.position,
        "listeners": snap.listeners,
        "queued": len(snap.pending),
        "loop": snap.loop.value,
        "volume": snap.volume,
        "at": now,
    }


def dashboard_routes(hub: MonitoringHub) -> list[BaseRoute]:
    services = hub.services

    async def page(request: Request) -> Response:
        if await session_admin(services, request) is None:
            return RedirectResponse(request.url_for("admin:login"), status_code=302)
        return FileResponse(STATIC_DIR / "dashboard.html", headers={"Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        if await session_admin(services, request) is None:
            return JSONResponse({"error": "log in at /admin/login"}, status_code=401)
        now = time.time()
        active = services.players.active_chats()
        chats = []
        for chat_id in sorted(active)[:MAX_CHATS]:
            chats.append(snapshot_json(await services.players.snapshot(chat_id), now))
        return JSONResponse(
            {
                "chats": chats,
                "active_total": len(active),
                "figures": await hub.figures(),
                "metrics_interval_seconds": services.settings.web.metrics_interval_seconds,
            },
            headers={"Cache-Control": "no-store"},
        )

    return [
        Route("/", page, methods=["GET"], name="dashboard"),
        Route("/api/state", state, methods=["GET"], name="api-state"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
