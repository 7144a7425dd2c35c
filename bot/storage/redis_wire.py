"""The queue store's own Redis client: commands packed here, written to a plain asyncio
stream and read back by hiredis, on a small pool of such connections.

Why not redis-py's client, which the rest of the bot uses: every queue operation is one
command (an EVALSHA), and redis-py's path around that command (the command table and
its response callbacks, the pool's connection checks, the event hooks, a ``wait_for``
around each socket write) cost more CPU than packing the command, the round trip and the
parse together (benchmarks/README.md, queue_redis).  This client does only what the store
needs: RESP2, replies decoded as UTF-8 (``decode_responses``), AUTH and SELECT from the
URL, TLS for ``rediss://``, Unix sockets.  Error replies become redis-py's exception
classes (its own error table), so the store maps them as before.

A call that fails, times out or is cancelled after its command was written closes its
connection: the reply may still arrive, and a connection that could hand it to the next
caller is never reused.  Nothing is retried here (a retried write could run twice).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.storage.idle_pool import IdlePool

Arg = str | int | float | bytes
#: what the URL may carry besides where and who (anything else is refused at open, rather
#: than ignored: this client would not honour it)
URL_OPTIONS = frozenset({"host", "port", "path", "db", "username", "password"})
URL_OPTIONS_TLS = frozenset({"ssl_cert_reqs"})
#: commands that may wait on the server for as long as they are told to (the cluster's
#: stream read is one): each goes alone on a connection, holding up no other caller's reply
BLOCKING = frozenset(
    {"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"}
    | {"XREAD", "XREADGROUP", "WAIT", "WAITAOF", "SUBSCRIBE", "PSUBSCRIBE", "MONITOR"}
)


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        else:  # int (bool too) and float: as redis-py sends them
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a connection goes and how it introduces itself, from a redis URL."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None  # a Unix socket
    tls: ssl.SSLContext | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        options: dict[str, Any] = dict(parse_url(url))
        options.pop("connection_class", None)
        tls = None
        if url.startswith("rediss://"):
            tls = ssl.create_default_context()
            if str(options.pop("ssl_cert_reqs", "required")).lower() in ("none", "0"):
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        unknown = set(options) - URL_OPTIONS
        if unknown:
            raise ValueError(
                f"cannot take {', '.join(sorted(unknown))}: the queue store's client honours"
                " the host, port, database, user and password (and ssl_cert_reqs on rediss://)"
            )
        return cls(tls=tls, **options)


def _error(message: str) -> Exception:
    """An error reply as redis-py's class for it (NOSCRIPT → NoScriptError, OOM, ...)."""
    exc: Exception = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return exc


def _raising_errors(replies: list[Any]) -> list[Any]:
    """``replies``, unless one is an error reply: then the first of those is raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


class _Connection(asyncio.Protocol):
    """One connection: the bytes that arrive are parsed at once, and the call waiting for
    them is woken when its last reply is complete (no stream buffer in between)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = hiredis.Reader(
            protocolError=InvalidResponse, replyError=_error, encoding="utf-8"
        )
        self._waiter: asyncio.Future[list[Any]] | None = None
        self._replies: list[Any] = []
        self._expected = 0
        self._lost: Exception | None = None
        self._gone = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, endpoint: Endpoint, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        if endpoint.path is not None:
            _, conn = await loop.create_unix_connection(cls, endpoint.path)
        else:
            _, conn = await loop.create_connection(
                cls, endpoint.host, endpoint.port, ssl=endpoint.tls
            )
        try:
            hello: list[Sequence[Arg]] = []
            if endpoint.password is not None:
                who = [endpoint.username] if endpoint.username else []
                hello.append(["AUTH", *who, endpoint.password])
            if endpoint.db:
                hello.append(["SELECT", endpoint.db])
            if hello:
                _raising_errors(await conn.call_many(hello, timeout))
        except BaseException:
            conn.drop()
            raise
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        replies = self._replies
        try:
            self._parser.feed(data)
            while len(replies) < self._expected:
                reply = self._parser.gets()
                if reply is False:
                    return
                replies.append(reply)
            if self._parser.gets() is not False:
                raise InvalidResponse("a reply nobody asked for")
        except Exception as exc:  # garbage from the server: this connection is done
            self._fail(exc)
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = "connection closed by the server" if exc is None else f"connection lost: {exc}"
        self._fail(RedisConnectionError(reason))
        if not self._gone.done():
            self._gone.set_result(None)

    def _fail(self, exc: Exception) -> None:
        self._lost = self._lost or exc
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.drop()

    @property
    def usable(self) -> bool:
        return self._lost is None

    def _expire(self, waiter: asyncio.Future[list[Any]]) -> None:
        """The call's time is up: fails it unless its replies came first.  After the
        process was stopped (SIGSTOP, a frozen VM) the overdue timer and the replies that
        arrived meanwhile are handled in the same loop round, the replies first: a call
        answered in time is not failed, nor its connection dropped, by its stale timer."""
        if self._waiter is waiter and not waiter.done():
            self._fail(RedisTimeoutError("redis did not answer"))

    def send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    async def call_many(self, commands: Sequence[Sequence[Arg]], timeout: float) -> list[Any]:
        """Writes the commands at once and waits (at most ``timeout`` seconds) for one
        reply each; error replies come back in their place, as exceptions (raising the
        first is the caller's part: several callers' commands may share one write)."""
        if self._lost is not None:
            raise self._lost
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._replies, self._expected = [], len(commands)
        timer = loop.call_later(timeout, self._expire, waiter)
        try:
            self.send(b"".join(pack(command) for command in commands))
            replies: list[Any] = await waiter
        finally:
            timer.cancel()
        self._expected = 0
        return replies

    def drop(self) -> None:
        """Closes the connection at once (a reply still owed must reach nobody)."""
        if self._transport is not None:
            self._transport.abort()

    async def shut(self) -> None:
        if self._transport is not None:
            self._transport.close()
        await self._gone


class _Batch:
    """The calls made while one loop turn runs, sent in one write on one connection."""

    __slots__ = ("calls", "sending")

    def __init__(self) -> None:
        self.calls: list[tuple[Sequence[Sequence[Arg]], asyncio.Future[list[Any]]]] = []
        self.sending: asyncio.Task[None] | None = None


class RedisWire:
    """Connections opened on demand, at most ``max_connections``; a call past that waits
    up to ``pool_wait`` seconds for a free one (all busy that long: an overloaded process).
    Connecting has ``timeout`` seconds, and so has each call.

    The calls made in one turn of the event loop go out together: one write, on one
    connection, and their replies read back in order (each caller gets its own, its own
    error reply raised to it alone).  A burst of commands (a hundred updates of one
    getUpdates answer, each reading its chat's queue) then costs one round trip's
    system calls and wake-ups instead of a hundred, on one connection instead of a
    hundred (benchmarks/README.md, command_path).  A caller that is cancelled leaves the
    others' replies to be read; a batch all of whose callers are gone is abandoned and its
    connection closed, as a single cancelled call's always was."""

    def __init__(self, url: str, *, timeout: float, max_connections: int, pool_wait: float) -> None:
        self._endpoint = Endpoint.from_url(url)
        self._timeout = timeout
        # error replies are returned, not raised, by the connection: it is always in step
        self._pool: IdlePool[_Connection] = IdlePool(
            self._connect,
            max_connections,
            keeps=(),
            failure=RedisConnectionError,
            wait=pool_wait,
        )
        self._batch: _Batch | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def call(self, *args: Arg) -> Any:
        """One command; its reply (an error reply raised as redis-py's exception)."""
        (reply,) = await self.pipeline([args])
        return reply

    async def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """The commands in one write and their replies in order (one round trip)."""
        if any(str(command[0]).upper() in BLOCKING for command in commands):
            # it would hold every reply written behind it: alone, on its own connection
            return _raising_errors(await self._written(commands))
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            # a task runs after everything ready now: the calls those make join this batch
            batch.sending = loop.create_task(self._send(batch))
            self._sending.add(batch.sending)
            batch.sending.add_done_callback(self._sending.discard)
        future: asyncio.Future[list[Any]] = loop.create_future()
        batch.calls.append((commands, future))
        try:
            return _raising_errors(await future)
        except asyncio.CancelledError:
            if all(f.done() for _, f in batch.calls):
                if self._batch is batch:
                    self._batch = None  # a call made later must not join an abandoned batch
                if batch.sending is not None:
                    batch.sending.cancel()  # nobody is left to read for
            raise

    async def _send(self, batch: _Batch) -> None:
        if self._batch is batch:
            self._batch = None  # later calls start the next batch
        calls = [(commands, future) for commands, future in batch.calls if not future.done()]
        if not calls:
            return
        commands = [command for part, _ in calls for command in part]
        try:
            replies = await self._written(commands)
        except asyncio.CancelledError:
            for _, future in calls:
                future.cancel()  # a caller still waiting must not wait for ever
            raise
        except Exception as exc:  # each caller's to raise: nobody awaits this task
            for _, future in calls:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for part, future in calls:
            if not future.done():
                future.set_result(replies[start : start + len(part)])
            start += len(part)

    async def _written(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """The commands in one write on one connection: their replies, error replies as
        exceptions in their place."""
        return await self._pool.run(lambda conn: conn.call_many(commands, self._timeout))

    async def transaction(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """The commands inside MULTI/EXEC: read at one instant; EXEC's replies."""
        replies = await self.pipeline([("MULTI",), *commands, ("EXEC",)])
        return _raising_errors(list(replies[-1]))

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self._timeout):
                return await _Connection.open(self._endpoint, self._timeout)
        except TimeoutError:
            raise RedisTimeoutError("redis did not accept the connection in time") from None
        except OSError as exc:
            raise RedisConnectionError(f"redis connection failed: {exc}") from exc

    async def close(self) -> None:
        """Closes the idle connections now and each busy one when its call ends."""
        await self._pool.close()
