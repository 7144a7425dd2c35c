"""Runs the sidecar's uvicorn server as a task in the bot's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Generator

import uvicorn

from web.app import create_app
from web.limits import guarded_protocol
from web.services import WebServices

log = logging.getLogger(__name__)

WS_MAX_MESSAGE_BYTES = 64 * 1024
_TOKEN_RE = re.compile(r"(token=)[^&\s\"]+")


class _RedactTokens(logging.Filter):
    """uvicorn logs WebSocket paths with their query string; the token must not reach logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                _TOKEN_RE.sub(r"\1***", a) if isinstance(a, str) else a for a in args
            )
        return True


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The bot owns SIGINT/SIGTERM and stops the sidecar through WebServer.stop().
        yield


class WebServer:
    """``start()`` binds and returns once listening; ``stop()`` shuts down gracefully."""

    def __init__(self, services: WebServices, *, host: str | None = None, port: int | None = None):
        web = services.settings.web
        self.app = create_app(services)
        self.config = uvicorn.Config(
            self.app,
            host=host if host is not None else web.host,
            port=port if port is not None else web.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # X-Forwarded-* only from the configured proxies; anyone else could forge them
            proxy_headers=bool(web.trusted_proxies),
            forwarded_allow_ips=web.trusted_proxies or None,
            server_header=False,
            # clients only ever send "ping"; a big frame is not a monitoring client
            ws_max_size=WS_MAX_MESSAGE_BYTES,
            timeout_graceful_shutdown=5,
            # h11 with a connection cap and a request read deadline (see web.limits)
            http=guarded_protocol(web.max_connections, web.read_timeout_seconds),
        )
        self.server = _Server(self.config)
        self._task: asyncio.Task[None] | None = None
        redact = _RedactTokens()
        for name in ("uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _RedactTokens) for f in logger.filters):
                logger.addFilter(redact)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                port: int = sock.getsockname()[1]
                return port
        raise RuntimeError("the web server is not listening")

    def _bind(self) -> socket.socket:
        """Binds here, not in uvicorn: uvicorn calls sys.exit() when it cannot bind."""
        host, port = self.config.host, self.config.port
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return sock

    async def start(self) -> int:
        """Raises OSError when the address cannot be bound, RuntimeError if start-up fails."""
        sock = self._bind()
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]), name="web-sidecar")
        while not self.server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("web: the sidecar did not start (see the log above)")
            await asyncio.sleep(0.01)
        log.info("web sidecar listening on %s:%d", self.config.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        try:
            await self._task
        finally:
            self._task = None


async def start_sidecar(services: WebServices) -> WebServer | None:
    """What the bot's main calls: None when ``web.enabled`` is false, else a listening server
    (stop it with ``await server.stop()`` before the bot's storage closes)."""
    if not services.settings.web.enabled:
        return None
    server = WebServer(services)
    await server.start()
    return server
