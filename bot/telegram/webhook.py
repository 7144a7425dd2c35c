"""Webhook intake: Telegram posts each update to ``POST /telegram/webhook`` on the sidecar.

Telegram redelivers an update it thinks was not taken (after a crash, or an answer slower
than its timeout), and with a load balancer in front the second delivery may reach another
node.  So each ``update_id`` is claimed once before dispatch (``bot.telegram.claims``: in
Redis when the deployment has it, shared by every process).  A delivery that cannot be
claimed because Redis is down is answered 503 and not handled: Telegram delivers it again.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from pydantic import ValidationError

from bot.metrics import UPDATES_DUPLICATE
from bot.telegram.claims import ClaimUnavailable, UpdateClaims

log = logging.getLogger(__name__)

#: updates are small; a body beyond this is not one
MAX_BODY_BYTES = 1024 * 1024
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


class WebhookIntake:
    """What ``POST /telegram/webhook`` runs: secret check, dedupe, dispatch."""

    def __init__(self, dp: Dispatcher, bot: Bot, claims: UpdateClaims, secret: str) -> None:
        self._dp = dp
        self._bot = bot
        self._claims = claims
        self._secret = secret.encode()
        self.duplicates = 0

    async def close(self) -> None:
        await self._claims.close()

    def authorised(self, header: str | None) -> bool:
        """Constant-time comparison: the answer's timing says nothing about the secret."""
        return header is not None and hmac.compare_digest(header.encode(), self._secret)

    async def take(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one delivery; the answer may carry a method call."""
        try:
            data = json.loads(body)
            update_id = int(data["update_id"])
        except (ValueError, TypeError, KeyError):
            return 400, {"ok": False, "description": "not a Telegram update"}
        try:
            first = await self._claims.first(update_id)
        except ClaimUnavailable as exc:
            log.warning("update %s not taken (Telegram delivers it again): %s", update_id, exc)
            return 503, {"ok": False, "description": "try again later"}
        if not first:
            self.duplicates += 1
            UPDATES_DUPLICATE.labels(intake="webhook").inc()
            log.info("update %s delivered again: ignored", update_id)
            return 200, {}
        try:
            reply: TelegramMethod[Any] | None = await self._dp.feed_webhook_update(self._bot, data)
        except ValidationError:
            return 400, {"ok": False, "description": "not a Telegram update"}
        if reply is None:
            return 200, {}
        # Telegram accepts one method call (without files) as the answer to a delivery
        files: dict[str, Any] = {}
        payload = self._bot.session.prepare_value(
            reply.model_dump(warnings=False), bot=self._bot, files=files, _dumps_json=False
        )
        if files or not isinstance(payload, dict):
            await self._bot(reply)  # files cannot ride in a JSON answer: sent as a request
            return 200, {}
        return 200, {"method": reply.__api_method__, **payload}
