"""The resolver's dispatch: which route a /play request takes, the refusals that need no
network at all, and the metrics each outcome records."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.config import SourcesConfig
from bot.domain.models import MediaKind
from bot.metrics import REGISTRY
from bot.sources.base import SourceError, SourceRequest, TelegramMedia
from bot.sources.resolver import SourceResolver, looks_like_url
from tests.support.media_server import MediaServer


def failures(kind: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "sattva_source_failures_total", {"kind": kind, "reason": reason}
    )
    return value or 0.0


def resolves(kind: str) -> float:
    value = REGISTRY.get_sample_value("sattva_source_resolve_seconds_count", {"kind": kind})
    return value or 0.0


@pytest.mark.parametrize(
    ("request_", "route"),
    [
        (SourceRequest(query=""), "empty"),
        (SourceRequest(query="   "), "empty"),
        (SourceRequest(query="", media=TelegramMedia("f", "audio")), "telegram"),
        (SourceRequest(query="ignored words", media=TelegramMedia("f", "voice")), "telegram"),
        (SourceRequest(query="lib:rain"), "library"),
        (SourceRequest(query="LIB:rain"), "library"),
        (SourceRequest(query="https://example.com/a.mp3"), "url"),
        (SourceRequest(query="file:///etc/passwd"), "url"),
        (SourceRequest(query="concat:/etc/passwd|/etc/hosts"), "url"),
        (SourceRequest(query="data:audio/mp3;base64,AAAA"), "url"),
        (SourceRequest(query="subfile:,,start,0,end,0,,:/etc/passwd"), "url"),
        (SourceRequest(query="queen bohemian rhapsody"), "search"),
        (SourceRequest(query="re:zero opening"), "search"),
        (SourceRequest(query="-i"), "search"),
    ],
)
def test_routes(
    make_sources: Callable[..., SourcesConfig], request_: SourceRequest, route: str
) -> None:
    assert SourceResolver(make_sources(), max_track_seconds=60).route(request_) == route


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "empty"),
        ("file:///etc/passwd", "unsupported"),
        ("concat:/etc/passwd|/etc/hosts", "unsupported"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "unsupported"),
        ("data:audio/mp3;base64,AAAA", "unsupported"),
        ("pipe:0", "unsupported"),
        ("ftp://example.com/a.mp3", "unsupported"),
        ("lib:anything", "unavailable"),  # no library configured
        ("some search words", "unavailable"),  # yt-dlp off
    ],
)
async def test_refusals_without_network(
    make_sources: Callable[..., SourcesConfig], query: str, code: str
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=60)
    kind = res.route(SourceRequest(query=query))
    before, count_before = failures(kind, code), resolves(kind)
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query=query))
    assert err.value.code == code
    assert failures(kind, code) == before + 1
    assert resolves(kind) == count_before + 1


async def test_media_without_bot_is_unavailable(make_sources: Callable[..., SourcesConfig]) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=60)
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query="", media=TelegramMedia("f", "audio")))
    assert err.value.code == "unavailable"


async def test_success_is_timed_not_failed(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=60)
    before = resolves("url")
    await res.resolve(SourceRequest(query=media_server.url("files/tone.mp3")))
    assert resolves("url") == before + 1


async def test_expand_url_gives_one_track(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=60)
    tracks = await res.expand(media_server.url("files/tone.mp3"))
    assert [(t.title, t.media) for t in tracks] == [
        ("Test Tone", media_server.url("files/tone.mp3"))
    ]
    with pytest.raises(SourceError) as err:
        await res.expand("file:///etc/passwd")
    assert err.value.code == "unsupported"


async def test_expand_for_a_video_playlist_takes_entries_as_vplay_does(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=60)
    [clip] = await res.expand(media_server.url("files/silent.mp4"), video_quality="360p")
    assert (clip.media_kind, clip.quality, clip.has_audio) == (MediaKind.VIDEO, "360p", False)
    [song] = await res.expand(media_server.url("files/tone.mp3"), video_quality="360p")
    assert song.media_kind is MediaKind.AUDIO  # no picture: sound, as /vplay plays it


def test_looks_like_url() -> None:
    assert looks_like_url("HTTPS://x.example/a")
    assert not looks_like_url("hello world")
    assert not looks_like_url("note:this")
