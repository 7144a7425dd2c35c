"""Webhook intake: Telegram posts each update to ``POST /telegram/webhook`` on the sidecar.

Telegram redelivers an update it thinks was not taken (after a crash, or an answer slower
than its timeout), and with a load balancer in front the second delivery may reach another
node.  So each ``update_id`` is claimed once before dispatch: in Redis when the deployment
has one (``SET NX EX``: shared by every process, expiring on its own), else in memory.
Claiming before dispatch makes commands at-most-once: an update whose handling crashed the
process is not run again, which for a music bot beats playing a request twice.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from pydantic import ValidationError

from bot.config import Settings

log = logging.getLogger(__name__)

#: how long an update id is remembered (Telegram gives up redelivering well within a day)
DEDUPE_SECONDS = 24 * 3600
#: updates are small; a body beyond this is not one
MAX_BODY_BYTES = 1024 * 1024
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


class UpdateDedupe(Protocol):
    async def first(self, update_id: int) -> bool:
        """True for the first delivery of ``update_id``, False for every later one."""

    async def close(self) -> None: ...


class MemoryDedupe:
    """One process, no Redis: the ids of the last day, at most ``limit`` of them."""

    def __init__(
        self, *, seconds: float = DEDUPE_SECONDS, limit: int = 200_000, clock: Any = time.monotonic
    ) -> None:
        self._seen: OrderedDict[int, float] = OrderedDict()
        self._seconds = seconds
        self._limit = limit
        self._clock = clock

    async def first(self, update_id: int) -> bool:
        now = self._clock()
        while self._seen and (
            len(self._seen) >= self._limit or next(iter(self._seen.values())) <= now
        ):
            self._seen.popitem(last=False)
        if update_id in self._seen:
            return False
        self._seen[update_id] = now + self._seconds
        return True

    async def close(self) -> None:
        self._seen.clear()


class RedisDedupe:
    """Every process of a deployment: one key per update id, gone after ``seconds``."""

    def __init__(self, url: str, *, bot_id: int, seconds: int = DEDUPE_SECONDS) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._prefix = f"sattva:update:{bot_id}:"
        self._seconds = seconds

    async def first(self, update_id: int) -> bool:
        return bool(
            await self._redis.set(f"{self._prefix}{update_id}", 1, nx=True, ex=self._seconds)
        )

    async def close(self) -> None:
        await self._redis.aclose()


def open_dedupe(settings: Settings) -> UpdateDedupe:
    """Redis when the deployment has it (shared by every process), else this process's memory."""
    if settings.storage.redis_url:
        bot_id = int(settings.telegram.bot_token.get_secret_value().split(":", 1)[0])
        return RedisDedupe(settings.storage.redis_url, bot_id=bot_id)
    return MemoryDedupe()


class WebhookIntake:
    """What ``POST /telegram/webhook`` runs: secret check, dedupe, dispatch."""

    def __init__(self, dp: Dispatcher, bot: Bot, dedupe: UpdateDedupe, secret: str) -> None:
        self._dp = dp
        self._bot = bot
        self._dedupe = dedupe
        self._secret = secret.encode()
        self.duplicates = 0

    async def close(self) -> None:
        await self._dedupe.close()

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
        if not await self._dedupe.first(update_id):
            self.duplicates += 1
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
