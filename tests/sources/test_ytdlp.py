"""yt-dlp without the internet: the info-dict mapping, the refusals, and a lookup that
fails fast through a proxy that refuses connections."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import SourcesConfig
from bot.domain.models import SourceKind
from bot.metrics import SOURCE_FAILURES
from bot.sources import guard, ytdlp
from bot.sources.base import SourceError, SourceRequest
from bot.sources.resolver import SourceResolver
from bot.sources.ytdlp import has_site_extractor, info_to_track
from tests.support.egress import CountingListener, routed_through_egress
from tests.support.procs import free_port

VIDEO: dict[str, Any] = {
    "id": "abc",
    "title": "Some Song (Official)",
    "webpage_url": "https://www.youtube.com/watch?v=abc",
    "duration": 215,
    "thumbnail": "https://i.ytimg.com/vi/abc/hq.jpg",
    "extractor_key": "Youtube",
    "formats": [
        {"url": "https://rr1.googlevideo.com/v", "acodec": "none", "vcodec": "avc1", "tbr": 900},
        {"url": "https://rr1.googlevideo.com/a1", "acodec": "mp4a", "vcodec": "none", "abr": 128},
        {"url": "https://rr1.googlevideo.com/a2", "acodec": "opus", "vcodec": "none", "abr": 160},
    ],
}


def test_best_audio_format_chosen() -> None:
    track = info_to_track(VIDEO, query="some song", max_seconds=3600, requested_by=4)
    assert track.media == "https://rr1.googlevideo.com/a2"
    assert track.title == "Some Song (Official)"
    assert track.source == "https://www.youtube.com/watch?v=abc"
    assert track.kind is SourceKind.YTDLP
    assert track.duration == 215.0
    assert track.thumbnail == "https://i.ytimg.com/vi/abc/hq.jpg"
    assert not track.is_live
    assert track.requested_by == 4


def test_selected_format_url_and_search_entries() -> None:
    chosen = {**VIDEO, "url": "https://cdn.example.com/chosen.m4a"}
    search = {"_type": "playlist", "entries": [chosen, {**VIDEO, "title": "second"}]}
    track = info_to_track(search, query="words", max_seconds=3600)
    assert track.media == "https://cdn.example.com/chosen.m4a"
    assert track.title == "Some Song (Official)"


def test_artist_and_track_make_the_title() -> None:
    info = {**VIDEO, "artist": "Band", "track": "Song"}
    assert info_to_track(info, query="q", max_seconds=3600).title == "Band — Song"


def test_live() -> None:
    live = {**VIDEO, "is_live": True, "duration": None, "url": "https://x.example/live.m3u8"}
    track = info_to_track(live, query="q", max_seconds=1)
    assert track.is_live
    assert track.duration is None


@pytest.mark.parametrize(
    ("info", "code"),
    [
        ({"_type": "playlist", "entries": []}, "not_found"),
        ({**VIDEO, "duration": 99999}, "too_long"),
        ({**VIDEO, "url": "file:///etc/passwd"}, "unsupported"),
        ({**VIDEO, "url": "-i"}, "unsupported"),
        ({**VIDEO, "formats": [{"url": "https://x/v", "acodec": "none"}]}, "not_audio"),
    ],
)
def test_refusals(info: dict[str, Any], code: str) -> None:
    with pytest.raises(SourceError) as err:
        info_to_track(info, query="q", max_seconds=3600)
    assert err.value.code == code


def test_site_extractors_known() -> None:
    assert has_site_extractor("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert has_site_extractor("https://soundcloud.com/artist/track")
    assert not has_site_extractor("https://radio.example.com/stream.mp3")


async def test_missing_library_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import now fails as if not installed
    with pytest.raises(SourceError) as err:
        await ytdlp.lookup("ytsearch1:anything", timeout=5)
    assert err.value.code == "unavailable"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every yt-dlp connection goes to a loopback port where nothing listens."""
    monkeypatch.setattr(ytdlp, "OPTION_OVERRIDES", {"proxy": f"http://127.0.0.1:{free_port()}"})


@pytest.mark.usefixtures("offline")
async def test_search_fails_cleanly_and_quickly(
    make_sources: Callable[..., SourcesConfig],
) -> None:
    res = SourceResolver(make_sources(ytdlp_enabled=True), max_track_seconds=3600)
    started = time.monotonic()
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query="never gonna give you up"))
    assert err.value.code == "unreachable"
    assert time.monotonic() - started < 15


@pytest.mark.usefixtures("offline")
async def test_site_url_guarded_before_ytdlp(
    make_sources: Callable[..., SourcesConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"www.youtube.com": ["10.0.0.1"]}

    async def resolve_host(host: str, port: int) -> list[str]:
        return answers[host]

    monkeypatch.setattr(guard, "resolve_host", resolve_host)
    res = SourceResolver(
        make_sources(ytdlp_enabled=True, allow_private_networks=False), max_track_seconds=3600
    )
    url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query=url))
    assert err.value.code == "private_network"
    answers["www.youtube.com"] = ["142.250.74.46"]
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query=url))
    assert err.value.code == "unreachable"  # reached yt-dlp, which could not connect


async def test_disabled(make_sources: Callable[..., SourcesConfig]) -> None:
    res = SourceResolver(make_sources(ytdlp_enabled=False), max_track_seconds=3600)
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query="some words"))
    assert err.value.code == "unavailable"


async def test_site_fetches_go_through_the_egress_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """yt-dlp's own requests are checked too: a site whose name answers with a loopback
    address is refused at the proxy, and the listener there sees no connection."""
    listener = CountingListener()
    await listener.start()

    async def resolve_host(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(guard, "resolve_host", resolve_host)
    before = SOURCE_FAILURES.labels(kind="egress", reason="private_network")._value.get()
    try:
        async with routed_through_egress(allow_private=False) as egress:
            assert ytdlp._options()["proxy"] == egress.url
            with pytest.raises(SourceError) as err:
                await ytdlp.lookup(
                    f"http://soundcloud.com:{listener.port}/artist/track", timeout=20
                )
        assert "proxy" not in ytdlp._options()
    finally:
        await listener.close()
    assert err.value.code == "unreachable"
    assert listener.connections == 0
    assert SOURCE_FAILURES.labels(kind="egress", reason="private_network")._value.get() > before
