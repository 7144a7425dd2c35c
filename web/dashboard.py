"""The live dashboard at ``/``: one static page fed by /api/state and the WebSocket, and
the playback commands its buttons send (POST, admin session, same-origin only)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import aliased
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.cluster.view import ClusterView
from bot.domain.control import ChatSnapshot
from bot.domain.events import track_data
from bot.domain.queue import StorageUnavailable
from bot.storage.orm import Channel, Chat
from web.audit import actor_of
from web.auth import session_admin
from web.history import HistoryRollup, history_route
from web.monitoring import MonitoringHub
from web.player_actions import ACTIONS, ActionRefused, perform
from web.recent import RecentEvents
from web.services import WebServices

STATIC_DIR = Path(__file__).parent / "static"
# The page shows this many chats in detail; the totals still count every chat.
MAX_CHATS = 200
# Each stream card lists this many upcoming tracks (and the count of all of them).
NEXT_TRACKS = 5


def chat_link(username: str | None) -> str | None:
    """A public chat's address; a private one has none anyone could open."""
    return f"https://t.me/{username}" if username else None


@dataclass(frozen=True, slots=True)
class ChatRow:
    """What the chats table says of a streamed chat: its name, its public address, the
    engine it chose, and for a channel the group whose commands drive it."""

    title: str = ""
    username: str | None = None
    engine: str | None = None
    channel: bool = False
    group_id: int | None = None
    group_title: str | None = None

    def target(self) -> dict[str, Any]:
        """Where the stream goes: a channel (and the group driving it, if linked) or a
        group's own video chat; a chat the bot recorded as a channel stays one."""
        if not self.channel:
            return {"kind": "group"}
        return {"kind": "channel", "group_id": self.group_id, "group_title": self.group_title}


def snapshot_json(
    snap: ChatSnapshot,
    now: float,
    row: ChatRow | None = None,
    recent: RecentEvents | None = None,
) -> dict[str, Any]:
    track = snap.now.track if snap.now else None
    row = row or ChatRow()
    return {
        "chat_id": snap.chat_id,
        "chat_title": row.title or None,
        "chat_link": chat_link(row.username),
        "target": row.target(),
        "chat_engine": row.engine,
        "state": snap.state.value,
        "track": track_data(track) if track else None,
        "title": track.title if track else None,
        "duration": track.duration if track else None,
        "position": snap.position,
        "listeners": snap.listeners,
        "queued": len(snap.pending),
        "next": [
            {"track_id": t.id, "title": t.title, "duration": t.duration}
            for t in snap.pending[:NEXT_TRACKS]
        ],
        "loop": snap.loop.value,
        "volume": snap.volume,
        "placement": recent.placement.get(snap.chat_id, {}) if recent else {},
        "errors": recent.errors(snap.chat_id) if recent else 0,
        "at": now,
    }


async def chat_rows(services: WebServices, chat_ids: list[int]) -> dict[int, ChatRow]:
    """The chats table's rows for ``chat_ids`` (a chat the bot never recorded has none),
    joined with the channels table so a channel's card names the group driving it."""
    if not chat_ids:
        return {}
    group = aliased(Chat)
    query = (
        select(
            Chat.id,
            Chat.title,
            Chat.username,
            Chat.engine,
            Channel.channel_id,
            Channel.group_id,
            group.title,
        )
        .outerjoin(Channel, Channel.channel_id == Chat.id)
        .outerjoin(group, group.id == Channel.group_id)
        .where(Chat.id.in_(chat_ids))
    )
    async with services.sessionmaker() as session:
        return {
            chat_id: ChatRow(
                title=title,
                username=username,
                engine=engine,
                channel=channel_id is not None,
                group_id=group_id,
                group_title=group_title or None,
            )
            for chat_id, title, username, engine, channel_id, group_id, group_title in (
                await session.execute(query)
            )
        }


def dashboard_routes(
    hub: MonitoringHub, rollup: HistoryRollup, cluster: ClusterView
) -> list[BaseRoute]:
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
        shown = sorted(active, key=lambda c: (-hub.recent.errors(c), c))[:MAX_CHATS]
        rows = await chat_rows(services, shown)
        chats = [
            snapshot_json(await services.players.snapshot(c), now, rows.get(c), hub.recent)
            for c in shown
        ]
        return JSONResponse(
            {
                "chats": chats,
                "active_total": len(active),
                "events": list(hub.recent.events),
                "engine": services.settings.engine.kind,
                "figures": await hub.figures(),
                "ytdlp_cookies": services.cookie_files(),
                "metrics_interval_seconds": services.settings.web.metrics_interval_seconds,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def cluster_state(request: Request) -> Response:
        """``GET /api/cluster``: nodes, the assistants each holds, chats per assistant."""
        if await session_admin(services, request) is None:
            return JSONResponse({"error": "log in at /admin/login"}, status_code=401)
        try:
            body = await cluster.state()
        except (StorageUnavailable, RedisError, OSError) as exc:
            return JSONResponse(
                {"error": f"cluster state unavailable: {exc.__class__.__name__}"}, status_code=503
            )
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def act(request: Request) -> Response:
        """``POST /api/chats/{chat_id}/{action}``; remove takes ``track_id`` in the form."""
        if await session_admin(services, request) is None:
            return JSONResponse({"error": "log in at /admin/login"}, status_code=401)
        raw, action = request.path_params["chat_id"], request.path_params["action"]
        try:
            chat_id = int(raw)  # group ids are negative: Starlette's int convertor refuses them
        except ValueError:
            return JSONResponse({"error": f"not a chat id: {raw[:40]}"}, status_code=400)
        if action not in ACTIONS:
            return JSONResponse({"error": f"unknown action: {action[:40]}"}, status_code=404)
        form = await request.form()
        track_id = form.get("track_id")
        try:
            result = await perform(
                services,
                actor=actor_of(request),
                chat_id=chat_id,
                action=action,
                track_id=track_id if isinstance(track_id, str) else None,
            )
        except ActionRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"message": result.message, **result.after})

    return [
        Route("/", page, methods=["GET"], name="dashboard"),
        Route("/api/state", state, methods=["GET"], name="api-state"),
        history_route(services, rollup),
        Route("/api/cluster", cluster_state, methods=["GET"], name="api-cluster"),
        Route("/api/chats/{chat_id}/{action}", act, methods=["POST"], name="api-chat-action"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
