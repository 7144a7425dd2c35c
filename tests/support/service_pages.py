"""Streaming services on loopback: the saved pages of tests/sources/pages served at the paths
the readers fetch, and a search page yt-dlp's generic extractor can play from.

``install`` points ``bot.sources.streaming.ORIGIN_OVERRIDES`` at this server and makes
yt-dlp's searches (``ytdlp.search_target``) land on ``/search?q=...``, which answers a page
with an HTML5 audio element titled after the words, or a page with no media when the words
contain "Missing" (a search that finds nothing playable).  Every fetched path and search is
recorded, so tests can see what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

from bot.sources import streaming, ytdlp
from tests.support.procs import free_port

PAGES = Path(__file__).resolve().parents[1] / "sources" / "pages"

#: the page each service link of the tests is served as (the path the reader fetches)
ROUTES = {
    "/spotify/embed/track/4u7EnebtmKWzUH433cf5Qv": "spotify_track.html",
    "/spotify/embed/album/4m2880jivSbbyEGAKfITCa": "spotify_album.html",
    "/spotify/embed/track/0000000000changed": "spotify_changed.html",
    "/apple/us/song/halo/1440776022": "apple_song.html",
    "/apple/us/album/abbey-road-remastered/1441164426": "apple_album.html",
    "/apple/us/playlist/chill-mix/pl.u-abc123": "apple_playlist.html",
    "/deezer/en/track/3135556": "deezer_track.html",
    "/deezer/en/album/302127": "deezer_album.html",
    "/deezer/en/playlist/908622995": "deezer_playlist.html",
    "/yandex/album/3059/track/25063": "yandex_track.html",
    "/yandex/album/3059": "yandex_album.html",
    "/yandex/album/9999": "yandex_captcha.html",
    "/tidal/browse/track/5121839": "tidal_track.html",
    "/tidal/browse/album/5121837": "tidal_album.html",
}
ORIGINS = {
    "https://open.spotify.com": "/spotify",
    "https://music.apple.com": "/apple",
    "https://www.deezer.com": "/deezer",
    "https://music.yandex.ru": "/yandex",
    "https://tidal.com": "/tidal",
    "https://spotify.link": "/spotify-link",
    "https://link.deezer.com": "/deezer-link",
}
#: share links: where each redirects (a service page, or somewhere else)
REDIRECTS = {
    "/spotify-link/AbCdEf": "https://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv?si=1",
    "/deezer-link/s/xyz": "https://www.example.com/not-music",
}


@dataclass
class ServicePages:
    tone: Path
    port: int = 0
    fetched: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/search", self._search)
        app.router.add_get("/tone.mp3", self._tone)
        app.router.add_get("/{tail:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        overrides = {origin: self.base + prefix for origin, prefix in ORIGINS.items()}
        monkeypatch.setattr(streaming, "ORIGIN_OVERRIDES", overrides)

        def target(words: str) -> str:
            return f"{self.base}/search?q={quote(words)}"

        monkeypatch.setattr(ytdlp, "search_target", target)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self.fetched.append(request.path)
        if request.path in REDIRECTS:
            raise web.HTTPFound(REDIRECTS[request.path])
        name = ROUTES.get(request.path)
        if name is None:
            raise web.HTTPNotFound()
        return web.Response(body=(PAGES / name).read_bytes(), content_type="text/html")

    async def _search(self, request: web.Request) -> web.StreamResponse:
        words = request.query.get("q", "")
        self.searches.append(words)
        if "Missing" in words:
            body = f"<html><head><title>{escape(words)}</title></head><body>no results</body>"
        else:
            body = (
                f"<html><head><title>{escape(words)} (Official Audio)</title></head><body>"
                '<audio src="/tone.mp3"></audio></body></html>'
            )
        return web.Response(text=body, content_type="text/html")

    async def _tone(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self.tone.read_bytes(), content_type="audio/mpeg")
