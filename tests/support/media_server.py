"""A real HTTP server on a loopback address serving generated media and misbehaviours
(redirect chains, a page, non-audio, slow answers, an endless "radio"), and counting every
request so tests can prove that a refused URL never reached it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.support.procs import free_port


@dataclass
class MediaServer:
    files: dict[str, tuple[Path, str]]  # name -> (file, content type)
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[str] = field(default_factory=list)
    #: the Cookie header of every request ("" when none was sent), in order
    cookies: list[str] = field(default_factory=list)
    #: serve https with this context (see ``tests.support.egress.SelfSignedCert``)
    tls: ssl.SSLContext | None = None
    #: HTML served at /pages/<name> (a playlist page for yt-dlp's generic extractor, ...)
    pages: dict[str, str] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}/{path.lstrip('/')}"

    def hits(self, prefix: str = "/") -> int:
        return sum(1 for p in self.requests if p.startswith(prefix))

    async def start(self) -> None:
        app = web.Application(middlewares=[self._count])
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/redirect/{n}", self._redirect)
        app.router.add_get("/redirect-to", self._redirect_to)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/page.html", self._page)
        app.router.add_get("/player.html", self._player)
        app.router.add_get("/pages/{name}", self._named_page)
        app.router.add_get("/slow-headers", self._slow_headers)
        app.router.add_get("/slow-body", self._slow_body)
        app.router.add_get("/radio", self._radio)
        app.router.add_get("/switch/{name}", self._switch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=self.tls).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _count(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        self.cookies.append(request.headers.get("Cookie", ""))
        return await handler(request)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        entry = self.files.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        path, content_type = entry
        return web.Response(body=path.read_bytes(), content_type=content_type)

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        target = f"/redirect/{n - 1}" if n > 1 else "/files/tone.mp3"
        raise web.HTTPFound(target)

    async def _redirect_to(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    async def _switch(self, request: web.Request) -> web.StreamResponse:
        """Bait and switch: the file to the first request for this path, then a redirect to
        ``?to=`` for every later one (a host that passes a check, then sends ffmpeg away)."""
        if self.hits(request.path) > 1:
            raise web.HTTPFound(request.query["to"])
        return await self._file(request)

    async def _loop(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/loop")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html><body>not media</body></html>", content_type="text/html")

    async def _player(self, request: web.Request) -> web.StreamResponse:
        """A page with an HTML5 audio element: yt-dlp's generic extractor finds the file."""
        body = (
            "<html><head><title>Player Page</title></head><body>"
            '<audio controls src="/files/tone.mp3"></audio></body></html>'
        )
        return web.Response(text=body, content_type="text/html")

    async def _named_page(self, request: web.Request) -> web.StreamResponse:
        html = self.pages.get(request.match_info["name"])
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    async def _slow_headers(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def _slow_body(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await resp.prepare(request)
        await asyncio.sleep(30)
        return resp

    async def _radio(self, request: web.Request) -> web.StreamResponse:
        """An Icecast-like endless stream: no length, an icy-name, mp3 bytes over and over."""
        path, _ = self.files["tone.mp3"]
        data = path.read_bytes()
        resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg", "icy-name": "Test FM"})
        await resp.prepare(request)
        try:
            for _ in range(40):
                await resp.write(data)
                await asyncio.sleep(0.05)
        except ConnectionResetError:
            pass
        return resp
