"""The one door ffmpeg, ffprobe and yt-dlp use to the outside: an HTTP proxy on loopback
that runs the source guard on every connection it opens for them.

The guard checks the URL a user gave and every redirect the bot itself follows, but ffmpeg
then fetches the media again: it resolves the name again and follows redirects on its own,
so a host could serve audio to the check and send ffmpeg to 127.0.0.1 or a rebinding DNS
answer afterwards.  Through this proxy every request ffmpeg makes (each redirect hop is a
new request) and every ``CONNECT`` tunnel for https is checked and connected to the
addresses the guard approved, never to a second DNS answer.  Redirects are not followed
here: they go back to the client, and its next request is checked in turn.

ffmpeg itself speaks only plain http to this proxy (``bot.ffmpeg``); https upstreams it asks
for in a mapped http form (``egress_urls``), and the proxy opens and verifies the TLS
connection.  ``CONNECT`` tunnels remain for yt-dlp, which does its own TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from bot.metrics import SOURCE_FAILURES
from bot.sources.base import SourceError
from bot.sources.egress_relay import BadUpstream, Touch, relay_response
from bot.sources.egress_urls import REFUSED_HOST, Upstream, upstream_of
from bot.sources.guard import CheckedUrl, check_url
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: bytes a request head (request line and headers) may take
HEADER_LIMIT = 16 * 1024
#: seconds for the client to send its request head
HEAD_TIMEOUT = 10.0
#: seconds to connect to the checked address
CONNECT_TIMEOUT = 10.0
#: seconds a connection may stay silent in both directions before it is closed
IDLE_TIMEOUT = 60.0
#: connections relayed at once; more are answered 503
MAX_TUNNELS = 256
#: methods ffmpeg and yt-dlp use to read media; anything else is refused
METHODS = ("GET", "HEAD")
#: hop-by-hop headers meant for the proxy, not for the origin
_PROXY_HEADERS = (
    b"proxy-connection",
    b"proxy-authorization",
    b"connection",
    b"keep-alive",
    b"host",
)
#: what a client that goes away or stalls mid-request raises
_READ_ERRORS = (
    ConnectionError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
)


class Refused(Exception):
    """A request the proxy answers itself; ``reason`` is a short code (metric label, body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EgressProxy:
    """Listens on 127.0.0.1 at a random port; ``url`` is what ``-http_proxy`` receives."""

    def __init__(
        self,
        *,
        allow_private: bool,
        max_tunnels: int = MAX_TUNNELS,
        idle_timeout: float = IDLE_TIMEOUT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls`` verifies https upstreams; the default trusts the system's CA store."""
        self._allow_private = allow_private
        self._tls = tls if tls is not None else ssl.create_default_context()
        self._max_tunnels = max_tunnels
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._active = 0
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def active(self) -> int:
        return self._active

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=HEADER_LIMIT)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await cancel_and_wait(list(self._handlers))
        await self._server.wait_closed()
        self._server = None

    # -- one client connection -------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            if self._active >= self._max_tunnels:
                # read the request first: closing on unread bytes resets the connection and
                # the client would never see the answer
                with contextlib.suppress(*_READ_ERRORS):
                    async with asyncio.timeout(1.0):
                        await reader.readuntil(b"\r\n\r\n")
                raise Refused(503, "too_many_connections")
            self._active += 1
            try:
                await self._serve(reader, writer)
            finally:
                self._active -= 1
        except Refused as exc:
            await _refuse(writer, exc)
        except _READ_ERRORS:
            pass
        except asyncio.CancelledError:
            # only close() cancels a handler; ending quietly keeps asyncio's stream callback
            # from reporting the cancellation as an error
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise Refused(431, "head_too_large") from None
        except TimeoutError:
            raise Refused(408, "head_too_slow") from None
        line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = line.decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "malformed_request") from None
        if not version.startswith("HTTP/1."):
            raise Refused(400, "malformed_request")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if not host or not port.isdigit() or any(c in host for c in "/@?#"):
                raise Refused(400, "malformed_request")  # only host:port, nothing to reinterpret
            checked = await self._check(f"https://{target}/", target)
            await self._tunnel(reader, writer, checked)
        elif method in METHODS:
            try:
                upstream = upstream_of(target)
            except ValueError:
                raise Refused(400, "not_absolute_http") from None
            if upstream.host == REFUSED_HOST:
                raise Refused(403, "refused_in_playlist")  # see egress_urls.rewrite_hls
            checked = await self._check(upstream.url, target)
            await self._forward(method, version, rest, upstream, checked, reader, writer)
        else:
            raise Refused(405, "method_not_allowed")

    async def _tunnel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, checked: CheckedUrl
    ) -> None:
        upstream_reader, upstream_writer = await self._connect(checked, None)
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self._relay(reader, writer, upstream_reader, upstream_writer)
        finally:
            await _close(upstream_writer)

    async def _forward(
        self,
        method: str,
        version: str,
        headers: bytes,
        upstream: Upstream,
        checked: CheckedUrl,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """One request to the checked address (over TLS for a mapped https host), its
        answer relayed by ``relay_response`` until done, the client gone or idle too long."""
        upstream_reader, upstream_writer = await self._connect(checked, upstream)
        try:
            upstream_writer.write(_origin_request(method, upstream, version, headers))
            await upstream_writer.drain()
            async with asyncio.timeout(self._idle_timeout) as idle:
                touch = Touch(idle, self._idle_timeout)
                asked = b"\r\naccept-encoding:" in b"\r\n" + headers.lower()
                answer = asyncio.create_task(
                    _answer(method, upstream, writer, upstream_reader, touch, asked)
                )
                gone = asyncio.create_task(_until_eof(reader))
                try:
                    await asyncio.wait((answer, gone), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (answer, gone):
                        task.cancel()
                    await asyncio.gather(answer, gone, return_exceptions=True)
        except TimeoutError:
            log.info("egress connection idle, closed")
        finally:
            await _close(upstream_writer)

    async def _check(self, url: str, shown: str) -> CheckedUrl:
        try:
            return await check_url(url, allow_private=self._allow_private)
        except SourceError as exc:
            log.warning("egress refused", extra={"target": shown[:200], "reason": exc.code})
            raise Refused(403, exc.code) from None

    async def _connect(
        self, checked: CheckedUrl, upstream: Upstream | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connects to the first checked address that answers: never a fresh DNS answer.
        A mapped https upstream gets TLS, verified against its host name."""
        tls = upstream is not None and upstream.tls
        for address in checked.addresses:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    if not tls:
                        return await asyncio.open_connection(address, checked.port)
                    assert upstream is not None
                    return await asyncio.open_connection(
                        address, checked.port, ssl=self._tls, server_hostname=upstream.host
                    )
            except ssl.SSLCertVerificationError:
                log.warning("egress: bad TLS certificate", extra={"target": checked.host[:200]})
                raise Refused(502, "tls_failed") from None
            except (OSError, TimeoutError):
                continue
        raise Refused(502, "connect_failed")

    async def _relay(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        """Bytes both ways until either side closes or both stay silent too long."""
        loop = asyncio.get_running_loop()

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, idle: asyncio.Timeout
        ) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    idle.reschedule(loop.time() + self._idle_timeout)
                    dst.write(data)
                    await dst.drain()

        tasks: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(self._idle_timeout) as idle:
                tasks = [
                    asyncio.create_task(pipe(client_reader, upstream_writer, idle)),
                    asyncio.create_task(pipe(upstream_reader, client_writer, idle)),
                ]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            log.info("egress connection idle, closed")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _refuse(writer: asyncio.StreamWriter, exc: Refused) -> None:
    SOURCE_FAILURES.labels(kind="egress", reason=exc.reason).inc()
    body = f"{exc.reason}\n".encode()
    head = (
        f"HTTP/1.1 {exc.status} Refused\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(head + body)
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


async def _answer(
    method: str,
    upstream: Upstream,
    writer: asyncio.StreamWriter,
    reader: asyncio.StreamReader,
    touch: Touch,
    asked_encoding: bool,
) -> None:
    """``relay_response``, where either side going away just ends it, and an answer the
    proxy will not relay is a 502 (when nothing was sent yet) or a cut connection."""
    try:
        await relay_response(method, upstream, writer, reader, touch, asked_encoding=asked_encoding)
    except BadUpstream as exc:
        log.warning("egress: upstream answer refused", extra={"reason": exc.reason})
        if exc.unsent:
            await _refuse(writer, Refused(502, exc.reason))
        else:
            SOURCE_FAILURES.labels(kind="egress", reason=exc.reason).inc()
    except (*_READ_ERRORS, OSError):
        pass


async def _until_eof(reader: asyncio.StreamReader) -> None:
    """Returns when the client hangs up (anything it sends meanwhile is ignored)."""
    with contextlib.suppress(*_READ_ERRORS):
        while await reader.read(65536):
            pass


def _origin_request(method: str, upstream: Upstream, version: str, headers: bytes) -> bytes:
    """The request as the origin expects it: a path instead of the absolute URL, its real
    Host, no proxy headers, and one request per connection (so a kept-alive client cannot
    reuse it)."""
    path = "/" + upstream.url.split("/", 3)[3]
    kept = [
        h
        for h in headers.split(b"\r\n")
        if h and h.split(b":", 1)[0].strip().lower() not in _PROXY_HEADERS
    ]
    lines = [
        f"{method} {path} {version}".encode(),
        f"Host: {upstream.host_header}".encode("ascii"),
        *kept,
        b"Connection: close",
        b"",
        b"",
    ]
    return b"\r\n".join(lines)
