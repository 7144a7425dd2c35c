"""The routes on their own, with the real yt-dlp against the loopback media server: a single
page's stream URL gets an expiry (its own ``expire=``, else the TTL) and passes the same
guard as a /play link before it is played; a direct URL's title falls back to its name."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bot.config import SourcesConfig
from bot.domain.models import SourceKind, Track
from bot.sources.base import SourceError, SourceRequest
from bot.sources.cookies import CookieJars, cookie_state_file
from bot.sources.routes import Routes, title_from_url
from tests.support.media_server import MediaServer

TTL = 600


def routes(sources: SourcesConfig) -> Routes:
    cookies = CookieJars(sources.ytdlp_cookies, state_file=cookie_state_file(sources))
    return Routes(sources, max_track_seconds=60, cookies=cookies)


def page(media: str) -> str:
    return f'<html><head><title>One</title></head><body><audio src="{media}"></audio></body></html>'


async def test_a_stream_url_without_an_expiry_is_good_for_the_ttl(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    media_server.pages["plain.html"] = page("/files/tone.mp3")
    target = media_server.url("pages/plain.html")
    started = time.time()
    track = await routes(make_sources(ytdlp_enabled=True, stream_url_ttl_seconds=TTL)).ytdlp(
        target, target, SourceRequest(query=target, requested_by=5), None
    )
    finished = time.time()
    assert isinstance(track, Track)
    assert (track.media, track.kind, track.requested_by) == (
        media_server.url("files/tone.mp3"),
        SourceKind.YTDLP,
        5,
    )
    assert track.expires_at is not None
    assert started + TTL <= track.expires_at <= finished + TTL


async def test_a_signed_stream_url_expires_when_it_says(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    expire = int(time.time()) + 6 * 3600
    media_server.pages["signed.html"] = page(f"/files/tone.mp3?expire={expire}")
    target = media_server.url("pages/signed.html")
    track = await routes(make_sources(ytdlp_enabled=True, stream_url_ttl_seconds=TTL)).ytdlp(
        target, target, SourceRequest(query=target), None
    )
    assert isinstance(track, Track)
    assert track.media == media_server.url(f"files/tone.mp3?expire={expire}")
    assert track.expires_at == expire


async def test_the_stream_url_ytdlp_chose_passes_the_guard(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    """The page is read (yt-dlp was handed it directly), but the stream it names lives on a
    loopback address: refused before anything would open it."""
    media_server.pages["local.html"] = page("/files/tone.mp3")
    target = media_server.url("pages/local.html")
    strict = routes(make_sources(ytdlp_enabled=True, allow_private_networks=False))
    with pytest.raises(SourceError) as err:
        await strict.ytdlp(target, target, SourceRequest(query=target), None)
    assert err.value.code == "private_network"
    assert media_server.hits("/pages/local.html") == 1
    assert media_server.hits("/files/tone.mp3") == 0


async def test_ytdlp_disabled_is_unavailable(make_sources: Callable[..., SourcesConfig]) -> None:
    with pytest.raises(SourceError) as err:
        await routes(make_sources()).ytdlp("ytsearch1:x", "x", SourceRequest(query="x"), None)
    assert err.value.code == "unavailable"


def test_title_from_url() -> None:
    assert title_from_url("https://x.example/music/My%20Song.mp3?x=1") == "My Song"
    assert title_from_url("https://x.example/") == "x.example"
