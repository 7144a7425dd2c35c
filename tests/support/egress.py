"""The egress proxy the way the app runs it: started, set as every ffmpeg's ``-http_proxy``
(and yt-dlp's proxy), and taken down again so later tests connect directly."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.ffmpeg import set_http_proxy
from bot.sources.egress import EgressProxy


@contextlib.asynccontextmanager
async def routed_through_egress(
    *, allow_private: bool, tls: ssl.SSLContext | None = None
) -> AsyncIterator[EgressProxy]:
    """``tls``: what the proxy trusts for https upstreams (default: the system's CAs)."""
    proxy = EgressProxy(allow_private=allow_private, tls=tls)
    await proxy.start()
    set_http_proxy(proxy.url)
    try:
        yield proxy
    finally:
        set_http_proxy(None)
        await proxy.close()


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


@dataclass(frozen=True)
class SelfSignedCert:
    """A self-signed certificate for one host name, made with the openssl command."""

    cert: Path
    key: Path

    @classmethod
    def make(cls, folder: Path, host: str) -> SelfSignedCert:
        cert, key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}",
                "-addext", f"subjectAltName=DNS:{host}",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cls(cert, key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies like production (host name, chain), trusting only this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))
