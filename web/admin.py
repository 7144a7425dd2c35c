"""The sqladmin panel at /admin: model views, the queues page and its two actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqladmin import Admin, BaseView, expose
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.storage.database import writing_sessions
from web.admin_views import (
    MODEL_VIEWS,
    ChannelAdmin,
    ChatAdmin,
    channel_admin_view,
    chat_admin_view,
)
from web.audit import actor_of
from web.auth import AdminAuth
from web.player_actions import ActionRefused, perform
from web.services import WebServices

TEMPLATES_DIR = Path(__file__).parent / "templates"


async def queue_rows(services: WebServices) -> list[dict[str, Any]]:
    """Each chat with something playing or queued, as the players report it (their
    snapshot reads the queue store, the truth)."""
    players = services.players
    chats = set(players.active_chats()) | set(await players.chats_with_state())
    rows = []
    for chat_id in sorted(chats):
        snapshot = await players.snapshot(chat_id)
        now = snapshot.now
        rows.append(
            {
                "chat_id": chat_id,
                "now": now.track.title if now else None,
                "paused": bool(now and now.paused),
                "pending": [track.title for track in snapshot.pending],
                "loop": snapshot.loop.value,
            }
        )
    return rows


def make_queues_view(services: WebServices) -> type[BaseView]:
    class QueuesView(BaseView):
        name = "Queues"
        icon = "fa-solid fa-list-ol"

        @expose("/queues", methods=["GET"], identity="queues")
        async def queues(self, request: Request) -> Response:
            context = {
                "title": "Queues",
                "rows": await queue_rows(services),
                "message": request.query_params.get("message", "")[:200],
            }
            return await self.templates.TemplateResponse(request, "queues.html", context)

        @expose("/queues/{chat_id}/skip", methods=["POST"], identity="queues-skip")
        async def skip(self, request: Request) -> Response:
            return await _act(request, request.path_params["chat_id"], "skip")

        @expose("/queues/{chat_id}/clear", methods=["POST"], identity="queues-clear")
        async def clear(self, request: Request) -> Response:
            return await _act(request, request.path_params["chat_id"], "clear")

    async def _act(request: Request, raw_chat_id: str, action: str) -> Response:
        # Telegram group ids are negative, which Starlette's int convertor does not match.
        try:
            chat_id = int(raw_chat_id)
        except ValueError:
            return _back(request, f"not a chat id: {raw_chat_id[:40]}")
        try:
            result = await perform(
                services, actor=actor_of(request), chat_id=chat_id, action=action
            )
        except ActionRefused as exc:
            return _back(request, str(exc))
        return _back(request, result.message)

    def _back(request: Request, message: str) -> Response:
        url = request.url_for("admin:view-queues").include_query_params(message=message)
        return RedirectResponse(url, status_code=303)

    return QueuesView


def mount_admin(app: Starlette, services: WebServices) -> Admin:
    auth = AdminAuth(services)
    admin = Admin(
        app,
        session_maker=writing_sessions(services.sessionmaker),
        base_url="/admin",
        title="Sattva",
        templates_dir=str(TEMPLATES_DIR),
        authentication_backend=auth,
    )
    auth.templates = admin.templates
    for view in MODEL_VIEWS:
        if view is ChatAdmin:
            view = chat_admin_view(services.forget_chat_settings)
        elif view is ChannelAdmin:
            view = channel_admin_view(services.forget_channels)
        admin.add_view(view)
    admin.add_view(make_queues_view(services))
    return admin
