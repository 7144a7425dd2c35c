"""A fake Telegram Bot API server: the one simulated part of the bot's tests.

It speaks what aiogram sends (form-encoded and multipart POSTs to ``/bot<token>/<method>``),
keeps a record of every call for assertions, holds ``getUpdates`` until a test pushes an
update, serves registered files under ``/file/bot<token>/<path>`` and can be told to fail
the next N calls of a method (429 with retry_after, 403, 400, 5xx).  Sources tests,
reliability tests and benchmarks reuse it, so it knows nothing of Sattva.  The objects
tests push (users, members, messages, button presses) come from ``tests.support.tg_objects``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.procs import free_port
from tests.support.tg_objects import channel_chat, member, user

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Sattva", "username": "sattva_test_bot"}
#: the fields getChat always carries (ChatFullInfo requires them)
FULL_INFO: dict[str, Any] = {
    "accent_color_id": 0,
    "max_reaction_count": 0,
    "accepted_gift_types": dict.fromkeys(
        ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
         "gifts_from_channels"),
        False,
    ),
}  # fmt: skip

Handler = Callable[[dict[str, Any]], Awaitable[Any] | Any]
_WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """Raised by a method handler: becomes a Bot API error answer."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


#: statuses recorded for calls that got no answer (yet)
IN_FLIGHT = -1  # the fake has not answered it yet (``delay_next``)
DROPPED = 0  # the connection was closed without an answer (``reset_next``)
ABANDONED = 499  # answered late, after the client had given up: not processed


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    #: IN_FLIGHT until the fake has answered (or given up on) the call: a delayed call is
    #: recorded when it arrives, and must not count as answered before its answer leaves
    status: int = IN_FLIGHT
    result: Any = None

    @property
    def chat_id(self) -> int | None:
        raw = self.params.get("chat_id")
        # "@username" names a chat too (getChat); it has no number
        return int(raw) if raw is not None and str(raw).lstrip("-").isdecimal() else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def markup(self) -> dict[str, Any] | None:
        raw = self.params.get("reply_markup")
        return raw if isinstance(raw, dict) else None

    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button, row by row."""
        markup = self.markup or {}
        return [
            (b["text"], b.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]


@dataclass
class _Failure:
    """One scripted fault: an error answer, a late answer, or a dropped connection."""

    remaining: int
    error: ApiError | None
    chat_id: int | None = None
    delay: float = 0.0
    reset: bool = False

    @property
    def kind(self) -> str:
        if self.reset:
            return "reset"
        if self.error is None:
            return "slow"
        return str(self.error.status)


@dataclass
class _Stored:
    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    photo: bool = False


def _decode(value: Any) -> Any:
    """Form fields arrive as strings; nested objects (reply_markup...) as JSON text."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


Matcher = str | re.Pattern[str] | Callable[[Call], bool] | None


def _matches(call: Call, match: Matcher) -> bool:
    if match is None:
        return True
    if isinstance(match, str):
        return match in call.text
    if isinstance(match, re.Pattern):
        return match.search(call.text) is not None
    return match(call)


@dataclass(repr=False)
class FakeBotAPI:
    token: str = TOKEN
    bot_user: dict[str, Any] = field(default_factory=lambda: dict(BOT_USER))
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = free_port()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._call_seen = asyncio.Event()
        self._failures: dict[str, list[_Failure]] = {}
        self._handlers: dict[str, Handler] = {}
        self._admins: dict[int, list[dict[str, Any]]] = {}
        self._members: dict[tuple[int, int], dict[str, Any]] = {}
        #: chat id -> the chat object, for chats that are not plain supergroups (channels)
        self._chats: dict[int, dict[str, Any]] = {}
        #: group -> its linked channel, and channel -> its discussion group (getChat)
        self._linked: dict[int, int] = {}
        self._files: dict[str, tuple[str, bytes]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self.messages: dict[tuple[int, int], _Stored] = {}
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1_000)
        self.faults: list[tuple[str, str]] = []  # (method, kind) of every fault served
        #: every HTTP request's method and raw path with query, routed or not (tests prove
        #: that a hostile file path made no request it should not)
        self.requests: list[tuple[str, str]] = []
        self.webhook: dict[str, Any] = {}  # setWebhook's url (+ a scripted last_error_message)

    # ----- lifecycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.router.add_post("/bot{token}/{method}", self._handle_method)
        app.router.add_get("/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            self._new_update.set()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- scripting -------------------------------------------------------------------
    def on(self, method: str, handler: Handler) -> None:
        """Replaces (or adds) the answer to a method; raise ApiError to answer an error."""
        self._handlers[method] = handler

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 1,
        retry_after: int | None = None,
        chat_id: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id`` only, if given) fail."""
        self._failures.setdefault(method, []).append(
            _Failure(times, ApiError(status, description, retry_after), chat_id)
        )

    def delay_next(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | None = None
    ) -> None:
        """The next ``times`` calls are answered after ``seconds``.  A request whose client
        gave up meanwhile is not processed (recorded with status ABANDONED): the fake plays
        the case where Telegram never saw it, since a bot cannot tell the other case apart."""
        self._failures.setdefault(method, []).append(_Failure(times, None, chat_id, delay=seconds))

    def reset_next(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """The next ``times`` calls have their connection closed unanswered, unprocessed."""
        self._failures.setdefault(method, []).append(_Failure(times, None, chat_id, reset=True))

    def pending_faults(self) -> int:
        """Scripted faults not served yet."""
        return sum(f.remaining for queue in self._failures.values() for f in queue)

    def fail_flood(
        self, method: str, retry_after: int = 1, times: int = 1, chat_id: int | None = None
    ) -> None:
        self.fail_next(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            times=times,
            retry_after=retry_after,
            chat_id=chat_id,
        )

    def set_admins(self, chat_id: int, admins: list[dict[str, Any]]) -> None:
        """Chat members as getChatAdministrators returns them (see ``admin``)."""
        self._admins[chat_id] = admins

    def set_chat(self, chat_id: int, **fields: Any) -> None:
        """What getChat answers for ``chat_id`` (title, username, type, linked_chat_id...);
        a chat given admins is known as a supergroup; any other id is "chat not found"."""
        self._chats[chat_id] = {"id": chat_id, "type": "supergroup", **fields}

    def add_channel(
        self,
        chat_id: int,
        *,
        title: str = "",
        username: str | None = None,
        discussion_group: int | None = None,
    ) -> dict[str, Any]:
        """A channel getChat and the bot's own messages know; ``discussion_group``: the
        group linked to it (both sides report ``linked_chat_id``).  Its administrators
        are ``set_admins`` as for a group (put the bot among them to make it an admin)."""
        data = channel_chat(chat_id, title or f"Channel {chat_id}", username)
        self._chats[chat_id] = data
        if discussion_group is not None:
            self._linked[discussion_group] = chat_id
            self._linked[chat_id] = discussion_group
        return data

    def set_member(self, chat_id: int, member: dict[str, Any]) -> None:
        self._members[(chat_id, member["user"]["id"])] = member

    def keep(self, chat_id: int, message_id: int, text: str) -> None:
        """A message someone else posted (a channel post) that the bot may edit or delete."""
        self.messages[(chat_id, message_id)] = _Stored(chat_id, message_id, text)

    #: getFile refuses bigger files, as the public Bot API does above 20 MB (tests lower it)
    max_file_bytes = 20 * 1024 * 1024

    def register_file(self, file_id: str, content: bytes, file_path: str) -> None:
        self._files[file_id] = (file_path, content)

    # ----- updates -----------------------------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> int:
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._new_update.set()
        return int(update["update_id"])

    def next_id(self) -> int:
        return next(self._ids)

    # ----- assertions ----------------------------------------------------------------------
    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.chat_id == chat_id)
        ]

    def sent_texts(self, chat_id: int) -> list[str]:
        return [c.text for c in self.calls_of("sendMessage", chat_id) if c.status == 200]

    async def wait_call(
        self,
        method: str | tuple[str, ...],
        match: Matcher = None,
        *,
        chat_id: int | None = None,
        timeout: float = 10.0,
        after: int = 0,
        ok_only: bool = True,
    ) -> Call:
        """Waits for a call (among calls[after:]) of ``method`` matching ``match``."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        index = after
        while True:
            while index < len(self.calls):
                call = self.calls[index]
                index += 1
                if (
                    call.method in methods
                    and (chat_id is None or call.chat_id == chat_id)
                    and (not ok_only or call.status == 200)
                    and _matches(call, match)
                ):
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(c.method, c.chat_id, c.text[:80]) for c in self.calls[after:]]
                raise TimeoutError(f"no {methods} matching {match!r} in {chat_id}; saw {seen}")
            self._call_seen.clear()
            try:
                await asyncio.wait_for(self._call_seen.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_message(
        self, chat_id: int, match: Matcher = None, *, timeout: float = 10.0, after: int = 0
    ) -> Call:
        return await self.wait_call(
            "sendMessage", match, chat_id=chat_id, timeout=timeout, after=after
        )

    async def wait_text(
        self, chat_id: int, match: Matcher = None, *, timeout: float = 10.0, after: int = 0
    ) -> Call:
        """A message sent or a text edited into ``chat_id`` matching ``match``."""
        return await self.wait_call(
            ("sendMessage", "editMessageText", "sendPhoto", "editMessageCaption"),
            match,
            chat_id=chat_id,
            timeout=timeout,
            after=after,
        )

    def mark(self) -> int:
        """The index to pass as ``after=`` to look only at calls made from now on."""
        return len(self.calls)

    # ----- HTTP --------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: _WebHandler) -> web.StreamResponse:
        self.requests.append((request.method, request.raw_path))
        return await handler(request)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for file_path, content in self._files.values():
            if file_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        return web.Response(status=404)

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        form = await request.post() if request.method == "POST" else request.query
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "size": len(value.file.read())}
            else:
                params[key] = _decode(value)
        for key, value in list(params.items()):
            # aiogram sends a file as its own field and names it with "attach://<field>"
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.pop(value.removeprefix("attach://"), value)
        call = Call(method, params, time.monotonic())
        record = method != "getUpdates"
        if record:
            self.calls.append(call)
        try:
            failure = self._take_failure(method, call.chat_id)
            if failure is not None:
                self.faults.append((method, failure.kind))
                if failure.reset:
                    return self._drop(request, call)
                if failure.delay:
                    await asyncio.sleep(failure.delay)
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        call.status = ABANDONED
                        self._call_seen.set()
                        return web.Response(status=ABANDONED)
                if failure.error is not None:
                    raise failure.error
            result = await self._dispatch(method, params)
        except ApiError as exc:
            call.status = exc.status
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.status,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            self._call_seen.set()
            return web.json_response(body, status=exc.status)
        call.status, call.result = 200, result
        self._call_seen.set()
        return web.json_response({"ok": True, "result": result})

    def _drop(self, request: web.Request, call: Call) -> web.Response:
        call.status = DROPPED
        self._call_seen.set()
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never reaches the client: the socket is gone

    def _take_failure(self, method: str, chat_id: int | None) -> _Failure | None:
        queue = self._failures.get(method, [])
        for failure in queue:
            if failure.chat_id is None or failure.chat_id == chat_id:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.remove(failure)
                return failure
        return None

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        handler = self._handlers.get(method) or getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        result = handler(params)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    # ----- methods -----------------------------------------------------------------------
    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        while True:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if self._updates or self._runner is None:
                return list(self._updates[:100])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                return []

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot_user, "can_join_groups": True, "supports_inline_queries": False}

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self._chats:
            return dict(self._chats[chat_id])
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}

    def _new_message(self, params: dict[str, Any], *, photo: bool = False) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message_id = next(counter)
        text = str(params.get("caption" if photo else "text") or "")
        markup = params.get("reply_markup")
        stored = _Stored(chat_id, message_id, text, markup if isinstance(markup, dict) else None)
        stored.photo = photo
        self.messages[(chat_id, message_id)] = stored
        return self._message_json(stored)

    def _message_json(self, stored: _Stored) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": stored.message_id,
            "date": int(time.time()),
            "chat": self._chat(stored.chat_id),
            "from": self.bot_user,
        }
        if stored.photo:
            message["photo"] = [
                {"file_id": "photo", "file_unique_id": "photo", "width": 320, "height": 320}
            ]
            message["caption"] = stored.text
        else:
            message["text"] = stored.text
        if stored.reply_markup:
            message["reply_markup"] = stored.reply_markup
        return message

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("text"):
            raise ApiError(400, "Bad Request: message text is empty")
        return self._new_message(params)

    def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._new_message(params, photo=True)

    def _stored(self, params: dict[str, Any]) -> _Stored:
        key = (int(params["chat_id"]), int(params["message_id"]))
        stored = self.messages.get(key)
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return stored

    def _edit(self, params: dict[str, Any], field_name: str) -> dict[str, Any]:
        stored = self._stored(params)
        text = str(params.get(field_name) or "") if field_name else stored.text
        markup = params.get("reply_markup")
        markup = markup if isinstance(markup, dict) else None
        if text == stored.text and markup == stored.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        stored.text = text
        stored.reply_markup = markup
        return self._message_json(stored)

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._stored(params).photo:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        return self._edit(params, "text")

    def _m_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._edit(params, "caption")

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._edit(params, "")

    def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if self.messages.pop(key, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {"url": params["url"], "last_error_message": None}
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
            **{k: v for k, v in self.webhook.items() if k != "url" and v is not None},
        }

    def _m_createChatInviteLink(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "invite_link": f"https://t.me/+fake{abs(int(params['chat_id']))}",
            "creator": self.bot_user,
            "creates_join_request": False,
            "is_primary": False,
            "is_revoked": False,
        }

    def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = str(params["chat_id"])
        if raw.startswith("@"):
            name = raw[1:].casefold()
            found = [
                c for c in self._chats.values() if (c.get("username") or "").casefold() == name
            ]
            if not found:
                raise ApiError(400, "Bad Request: chat not found")
            chat_id = int(found[0]["id"])
        else:
            chat_id = int(raw)
            if chat_id < 0 and chat_id not in self._chats and chat_id not in self._admins:
                raise ApiError(400, "Bad Request: chat not found")
        info: dict[str, Any] = {
            **self._chat(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat_id in self._linked:
            info["linked_chat_id"] = self._linked[chat_id]
        return info

    def _m_getChatAdministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat_id = int(params["chat_id"])
        if chat_id not in self._admins:
            raise ApiError(400, "Bad Request: chat not found")
        return self._admins[chat_id]

    def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        if (chat_id, user_id) in self._members:
            return self._members[(chat_id, user_id)]
        for admin in self._admins.get(chat_id, []):
            if admin["user"]["id"] == user_id:
                return admin
        return member(user(user_id))

    def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = self._files[file_id]
        if len(content) > self.max_file_bytes:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": path,
        }
