"""The one path every Bot API call takes: throttling, flood-wait retries, metrics.

Installed as an aiogram request middleware on the bot's session, so handler answers,
announcements, edits and broadcasts all pass through it without a second code path.

- 429: wait ``retry_after`` and send again (``TELEGRAM_RETRIES``), a bounded number of times.
- 5xx, a dropped connection or a request timeout: send again after a short, growing pause,
  within the same bound (an answer lost to a Bot API hiccup is a command lost).  Telegram
  has no idempotency key, so a request that did arrive but whose answer was lost is sent
  twice: a rare duplicate is preferred to a silent chat.
- 403 for a chat (bot removed or blocked): the chat's player is stopped in the background;
  the error still reaches the caller, which treats it as "this chat is gone".
- 400 "message to edit not found" on a text edit: the text is sent as a new message.
- 400 "message is not modified": a success (the message already shows that).
- Throttle: per chat (groups ~20 messages a minute) and globally (~30 a second).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import EditMessageText, Response, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.metrics import LAST_POLL, TELEGRAM_CALLS, TELEGRAM_ERRORS, TELEGRAM_RETRIES

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

#: methods that put something into a chat and count against its flood limits
CHAT_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendAudio",
        "sendDocument",
        "sendAnimation",
        "sendVoice",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
    }
)
#: long polling must never wait behind the throttle
UNTHROTTLED = frozenset({"getUpdates"})
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup"}
)

Clock = Callable[[], float]


class RateLimiter:
    """A sliding window: at most ``limit`` acquisitions in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more acquisition fits (0: now)."""
        now = self._clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window - now

    async def acquire(self) -> None:
        async with self._lock:
            wait = self.delay()
            while wait > 0:  # a timed wait: no event would say "a slot is free"
                await asyncio.sleep(wait)
                wait = self.delay()
            self._times.append(self._clock())


ForbiddenHook = Callable[[int], Awaitable[None]]


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, TelegramRetryAfter):
        return "retry_after"
    if isinstance(exc, TelegramForbiddenError):
        return "forbidden"
    if isinstance(exc, TelegramBadRequest):
        return "bad_request"
    if isinstance(exc, TelegramNotFound):
        return "not_found"
    if isinstance(exc, TelegramServerError):
        return "server"
    if isinstance(exc, TelegramNetworkError):
        return "network"
    return "other"


class Sender(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        group_limit: int = 20,
        group_window: float = 60.0,
        private_limit: int = 60,
        private_window: float = 60.0,
        global_limit: int = 30,
        global_window: float = 1.0,
        max_retries: int = 5,
        max_retry_after: float = 120.0,
        retry_delay: float = 0.5,
        max_retry_delay: float = 8.0,
    ) -> None:
        self.group = (group_limit, group_window)
        self.private = (private_limit, private_window)
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.global_limiter = RateLimiter(global_limit, global_window)
        self._chat_limiters: dict[int, RateLimiter] = {}
        self._on_forbidden: ForbiddenHook | None = None
        self._background: set[asyncio.Task[None]] = set()

    def on_forbidden(self, hook: ForbiddenHook) -> None:
        """Called (in the background) with the chat id when Telegram answers 403 for it."""
        self._on_forbidden = hook

    def chat_limiter(self, chat_id: int) -> RateLimiter:
        limiter = self._chat_limiters.get(chat_id)
        if limiter is None:
            limit, window = self.group if chat_id < 0 else self.private
            limiter = self._chat_limiters[chat_id] = RateLimiter(limit, window)
        return limiter

    def chat_delay(self, chat_id: int) -> float:
        """How long a send to ``chat_id`` would wait now: optional updates skip when > 0."""
        return self.chat_limiter(chat_id).delay()

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        if name in UNTHROTTLED:
            response = await make_request(bot, method)
            LAST_POLL.set_to_current_time()  # getUpdates is the only unthrottled call
            return response
        raw_chat = getattr(method, "chat_id", None)
        chat_id = raw_chat if isinstance(raw_chat, int) else None
        attempt = 0
        while True:
            await self.global_limiter.acquire()
            if chat_id is not None and name in CHAT_METHODS:
                await self.chat_limiter(chat_id).acquire()
            TELEGRAM_CALLS.labels(name).inc()
            try:
                return await make_request(bot, method)
            except (TelegramRetryAfter, TelegramForbiddenError, TelegramBadRequest) as exc:
                TELEGRAM_ERRORS.labels(name, _error_kind(exc)).inc()
                if isinstance(exc, TelegramRetryAfter):
                    if attempt >= self.max_retries or exc.retry_after > self.max_retry_after:
                        raise
                    attempt += 1
                    TELEGRAM_RETRIES.inc()
                    log.info("429 on %s: retrying in %ss", name, exc.retry_after)
                    await asyncio.sleep(exc.retry_after)
                    continue
                if isinstance(exc, TelegramForbiddenError):
                    if chat_id is not None:
                        self._forbidden(chat_id)
                    raise
                return await self._bad_request(make_request, bot, method, exc)
            except (TelegramServerError, TelegramNetworkError) as exc:
                TELEGRAM_ERRORS.labels(name, _error_kind(exc)).inc()
                if attempt >= self.max_retries:
                    raise
                delay = min(self.retry_delay * 2**attempt, self.max_retry_delay)
                attempt += 1
                TELEGRAM_RETRIES.inc()
                log.warning("%s failed (%s): retry %d in %.1fs", name, exc, attempt, delay)
                await asyncio.sleep(delay)
            except Exception as exc:
                TELEGRAM_ERRORS.labels(name, _error_kind(exc)).inc()
                raise

    async def _bad_request(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        exc: TelegramBadRequest,
    ) -> Response[TelegramType]:
        text = exc.message.lower()
        name = method.__api_method__
        if name in EDIT_METHODS and "message is not modified" in text:
            return cast(Response[TelegramType], True)
        if isinstance(method, EditMessageText) and "message to edit not found" in text:
            if method.chat_id is None or not method.text:
                raise exc
            send = SendMessage(
                chat_id=method.chat_id,
                text=method.text,
                reply_markup=method.reply_markup,
            )
            result: Any = await self(make_request, bot, send)
            return cast(Response[TelegramType], result)
        raise exc

    def _forbidden(self, chat_id: int) -> None:
        hook = self._on_forbidden
        if hook is None:
            return
        log.warning("bot removed or blocked in chat %s: stopping its player", chat_id)

        async def run() -> None:
            try:
                await hook(chat_id)
            except Exception:
                log.exception("stopping the player of chat %s after 403 failed", chat_id)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Waits for background 403 handling (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*tuple(self._background), return_exceptions=True)
