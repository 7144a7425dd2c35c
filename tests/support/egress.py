"""Helpers for the egress proxy's tests.  The proxy as the app routes through it (started,
set as every ffmpeg's ``-http_proxy``, taken down again so later tests connect directly) is
``bot.wiring.routed_through_egress``, re-exported here for the tests that use it alone."""

from __future__ import annotations

import asyncio
import contextlib

from bot.wiring import routed_through_egress

__all__ = ["CountingListener", "raw_exchange", "routed_through_egress"]


async def raw_exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Sends ``data`` to the proxy as-is and reads until it closes: what a client sees."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read(-1)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


class CountingListener:
    """A bare TCP listener that only counts connections: proof that nothing got through."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()
