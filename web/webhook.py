"""``POST /telegram/webhook``: Telegram's deliveries, refused without the secret header.

Authenticated by ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time), not by a
session cookie, so the sidecar's Origin check does not apply to this path.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.telegram.webhook import MAX_BODY_BYTES, SECRET_HEADER, WebhookIntake

PATH = "/telegram/webhook"


def webhook_route(intake: WebhookIntake) -> Route:
    async def endpoint(request: Request) -> Response:
        header = request.headers.get(SECRET_HEADER)
        if header is None:
            return JSONResponse({"ok": False, "description": "secret token missing"}, 401)
        if not intake.authorised(header):
            return JSONResponse({"ok": False, "description": "wrong secret token"}, 403)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse({"ok": False, "description": "too large"}, 413)
        status, answer = await intake.take(bytes(body))
        return JSONResponse(answer, status)

    return Route(PATH, endpoint, methods=["POST"])
