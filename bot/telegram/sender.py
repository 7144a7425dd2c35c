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
- Minor answers (usage lines, refusals, error sentences; marked with ``minor_answer``) wait
  behind every other send to their chat and never take the chat's last few slots, so junk
  commands cannot delay the answers to real ones; while one waits for the chat's budget, a
  further minor answer to the same user joins it (a new sentence is added, a repeated one
  dropped) instead of queueing a message of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
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

from bot.metrics import LAST_POLL, TELEGRAM_CALLS, TELEGRAM_ERRORS, TELEGRAM_RETRIES, child
from bot.telegram.session import SessionClosed
from bot.telegram.throttle import MINOR, MINOR_FOR, NORMAL, PendingMinor, RateLimiter

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

#: awaited before each call in ANSWERS made while handling an update (and in the tasks
#: it starts): ``bot.cluster.routing`` acknowledges a forwarded update there, so that a
#: command whose answer the chat has seen is never run again by another node
BEFORE_ANSWER: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "before_answer", default=None
)
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
#: what the chat sees as an answer (BEFORE_ANSWER): a message posted or edited, a button's
#: notice, a message deleted (a channel post run silently)
ANSWERS = CHAT_METHODS | {"answerCallbackQuery", "deleteMessage"}
#: long polling must never wait behind the throttle
UNTHROTTLED = frozenset({"getUpdates"})
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup"}
)

ForbiddenHook = Callable[[int], Awaitable[None]]

#: aiogram parses every answer as ``Response[<the method's result type>]``, and pydantic
#: keeps its parametrised classes only weakly: once a garbage collection freed one, the
#: next answer of that type built it again (~30 ms of schema building, dozens of times a
#: minute under load).  Holding each one here keeps them built for the process's life.
_RESPONSE_TYPES: dict[Any, Any] = {}


def _keep_response_type(method: TelegramMethod[Any]) -> None:
    returning = method.__returning__
    if returning not in _RESPONSE_TYPES:
        _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]


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
        minor_reserve: int | None = None,
    ) -> None:
        """``minor_reserve``: a group's slots per window minor answers leave to the others
        (default: a quarter of ``group_limit``)."""
        self.group = (group_limit, group_window)
        self.minor_reserve = group_limit // 4 if minor_reserve is None else minor_reserve
        self.private = (private_limit, private_window)
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.global_limiter = RateLimiter(global_limit, global_window)
        self._chat_limiters: dict[int, RateLimiter] = {}
        self._minor: dict[tuple[int, int], PendingMinor] = {}
        self._on_forbidden: ForbiddenHook | None = None
        self._background: set[asyncio.Task[None]] = set()

    def on_forbidden(self, hook: ForbiddenHook) -> None:
        """Called (in the background) with the chat id when Telegram answers 403 for it."""
        self._on_forbidden = hook

    def chat_limiter(self, chat_id: int) -> RateLimiter:
        limiter = self._chat_limiters.get(chat_id)
        if limiter is None:
            if chat_id < 0:
                limit, window = self.group
                limiter = RateLimiter(limit, window, reserve=self.minor_reserve)
            else:
                limiter = RateLimiter(*self.private)
            self._chat_limiters[chat_id] = limiter
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
        _keep_response_type(method)
        if name in UNTHROTTLED:
            response = await make_request(bot, method)
            LAST_POLL.set_to_current_time()  # getUpdates is the only unthrottled call
            return response
        if name in ANSWERS:
            before = BEFORE_ANSWER.get()
            if before is not None:
                await before()
        raw_chat = getattr(method, "chat_id", None)
        chat_id = raw_chat if isinstance(raw_chat, int) else None
        minor_for = MINOR_FOR.get()
        if minor_for is not None and chat_id is not None and isinstance(method, SendMessage):
            return await self._send_minor(make_request, bot, method, chat_id, minor_for)
        return await self._send(make_request, bot, method, chat_id)

    async def _send_minor(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: SendMessage,
        chat_id: int,
        user_id: int,
    ) -> Response[TelegramType]:
        key = (chat_id, user_id)
        pending = self._minor.get(key)
        if pending is not None:
            pending.join(method.text)
            result: Response[TelegramType] = await asyncio.shield(pending.result)
            return result
        pending = self._minor[key] = PendingMinor([method.text])
        try:
            try:
                await self.chat_limiter(chat_id).acquire(MINOR)
            finally:
                del self._minor[key]  # sent from here on: a later answer is a new message
            merged = cast(
                TelegramMethod[TelegramType],
                method.model_copy(update={"text": "\n".join(pending.texts)}),
            )
            result = await self._send(
                make_request, bot, merged, chat_id, priority=MINOR, slot_taken=True
            )
        except BaseException as exc:
            pending.settle(exc=exc)
            raise
        pending.settle(result)
        return result

    async def _send(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        chat_id: int | None,
        *,
        priority: int = NORMAL,
        slot_taken: bool = False,
    ) -> Response[TelegramType]:
        """``slot_taken``: the chat's slot for the first attempt is already acquired."""
        name = method.__api_method__
        attempt = 0
        while True:
            await self.global_limiter.acquire()
            if chat_id is not None and name in CHAT_METHODS and not (slot_taken and not attempt):
                await self.chat_limiter(chat_id).acquire(priority)
            child(TELEGRAM_CALLS, name).inc()
            try:
                return await make_request(bot, method)
            except (TelegramRetryAfter, TelegramForbiddenError, TelegramBadRequest) as exc:
                child(TELEGRAM_ERRORS, name, _error_kind(exc)).inc()
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
                child(TELEGRAM_ERRORS, name, _error_kind(exc)).inc()
                if attempt >= self.max_retries or isinstance(exc, SessionClosed):
                    raise
                delay = min(self.retry_delay * 2**attempt, self.max_retry_delay)
                attempt += 1
                TELEGRAM_RETRIES.inc()
                log.warning("%s failed (%s): retry %d in %.1fs", name, exc, attempt, delay)
                await asyncio.sleep(delay)
            except Exception as exc:
                child(TELEGRAM_ERRORS, name, _error_kind(exc)).inc()
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
