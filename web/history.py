"""``GET /api/history?range=24h|7d``: plays, failures and streaming chats per hour, from the
play history table (so the chart survives reloads and restarts, unlike the live charts).

Bucketed here rather than in SQL: hour truncation is spelt differently on SQLite and
PostgreSQL, and a week of history is a few thousand rows for a busy bot.  Listener counts
are not in the play history, so they are not charted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.domain.models import EndReason
from bot.storage.orm import PlayHistory
from web.auth import session_admin
from web.services import WebServices

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
HOUR = timedelta(hours=1)


def _utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


async def hourly(
    services: WebServices, span: timedelta, now: datetime | None = None
) -> list[dict[str, Any]]:
    """One point per hour, oldest first, the current (partial) hour last."""
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0) + HOUR
    start = end - span
    query = select(PlayHistory.started_at, PlayHistory.end_reason, PlayHistory.chat_id).where(
        PlayHistory.started_at >= start
    )
    hours = int(span / HOUR)
    plays, failures = [0] * hours, [0] * hours
    chats: list[set[int]] = [set() for _ in range(hours)]
    async with services.sessionmaker() as session:
        for started_at, end_reason, chat_id in await session.execute(query):
            i = int((_utc(started_at) - start) / HOUR)
            if not 0 <= i < hours:
                continue
            plays[i] += 1
            failures[i] += end_reason == EndReason.ERROR.value
            chats[i].add(chat_id)
    return [
        {
            "hour": (start + i * HOUR).timestamp(),
            "plays": plays[i],
            "failures": failures[i],
            "streams": len(chats[i]),
        }
        for i in range(hours)
    ]


def history_route(services: WebServices) -> Route:
    async def history(request: Request) -> Response:
        if await session_admin(services, request) is None:
            return JSONResponse({"error": "log in at /admin/login"}, status_code=401)
        name = request.query_params.get("range", "24h")
        span = RANGES.get(name)
        if span is None:
            return JSONResponse({"error": "range is 24h or 7d"}, status_code=400)
        points = await hourly(services, span)
        return JSONResponse(
            {"range": name, "points": points}, headers={"Cache-Control": "no-store"}
        )

    return Route("/api/history", history, methods=["GET"], name="api-history")
