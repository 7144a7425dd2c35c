"""Direct URLs against a real loopback server: probing, redirects re-guarded hop by hop,
refusals by code, and proof (request counts) that refused URLs never reached the server."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.config import SourcesConfig
from bot.domain.models import SourceKind, Track
from bot.sources.base import SourceError, SourceRequest
from bot.sources.http import follow
from bot.sources.resolver import SourceResolver
from tests.support.media_server import MediaServer
from tests.support.ssrf_corpus import PUBLIC_ADDRESS, pretend_public

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolver(cfg: SourcesConfig, max_seconds: int = 3600) -> SourceResolver:
    return SourceResolver(cfg, max_track_seconds=max_seconds)


async def resolve_code(res: SourceResolver, query: str) -> str:
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query=query))
    return err.value.code


async def test_direct_mp3(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    url = media_server.url("files/tone.mp3")
    track = await resolver(make_sources()).resolve(
        SourceRequest(query=url, requested_by=7, requested_by_name="Ann")
    )
    assert isinstance(track, Track)
    assert track.title == "Test Tone"
    assert track.media == url
    assert track.source == url
    assert track.kind is SourceKind.URL
    assert track.duration is not None
    assert 1.9 < track.duration < 2.2
    assert not track.is_live
    assert (track.requested_by, track.requested_by_name) == (7, "Ann")


async def test_unknown_content_type_is_probed(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    track = await resolver(make_sources()).resolve(
        SourceRequest(query=media_server.url("files/tone.bin"))
    )
    assert track.title == "Test Tone"


async def test_redirect_chain_followed(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    track = await resolver(make_sources()).resolve(
        SourceRequest(query=media_server.url("redirect/4"))
    )
    assert isinstance(track, Track)
    assert track.media == media_server.url("files/tone.mp3")
    assert track.source == media_server.url("redirect/4")
    assert media_server.requests[:5] == [
        "/redirect/4", "/redirect/3", "/redirect/2", "/redirect/1", "/files/tone.mp3"
    ]  # fmt: skip


async def test_too_many_redirects(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    assert (
        await resolve_code(resolver(make_sources()), media_server.url("redirect/9"))
        == "unreachable"
    )
    assert media_server.hits("/files/") == 0
    assert media_server.hits("/redirect/") == 6


async def test_redirect_to_file_scheme_refused(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    url = media_server.url("redirect-to?to=file:///etc/passwd")
    assert await resolve_code(resolver(make_sources()), url) == "unsupported"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("files/notes.txt", "not_audio"),
        ("files/silent.mp4", "not_audio"),
        ("files/missing.mp3", "unreachable"),
        ("page.html", "unsupported"),  # a web page, and yt-dlp is off
    ],
)
async def test_refusals_by_code(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig], path: str, code: str
) -> None:
    assert await resolve_code(resolver(make_sources()), media_server.url(path)) == code


async def test_hls_playlist(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    track = await resolver(make_sources()).resolve(
        SourceRequest(query=media_server.url("files/list.m3u8"))
    )
    assert isinstance(track, Track)
    assert track.media == media_server.url("files/list.m3u8")
    assert track.title == "list"
    assert track.duration is not None
    assert 1.9 < track.duration < 2.2
    assert media_server.hits("/files/seg") >= 1


async def test_hls_playlist_cannot_pull_in_local_files(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    code = await resolve_code(resolver(make_sources()), media_server.url("files/evil.m3u8"))
    assert code == "unsupported"


async def test_too_long(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = resolver(make_sources(), max_seconds=1)
    assert await resolve_code(res, media_server.url("files/tone.mp3")) == "too_long"


async def test_slow_headers_time_out(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = resolver(make_sources(probe_timeout_seconds=0.5))
    assert await resolve_code(res, media_server.url("slow-headers")) == "timeout"


async def test_slow_body_times_out_in_probe(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = resolver(make_sources(probe_timeout_seconds=1.0))
    assert await resolve_code(res, media_server.url("slow-body")) == "timeout"


async def test_radio_stream_is_live(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    track = await resolver(make_sources()).resolve(SourceRequest(query=media_server.url("radio")))
    assert isinstance(track, Track)
    assert track.is_live
    assert track.duration is None
    assert track.title == "Test FM"


async def test_loopback_refused_without_any_request(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = resolver(make_sources(allow_private_networks=False))
    port = media_server.port
    for url in (
        media_server.url("files/tone.mp3"),
        f"http://2130706433:{port}/files/tone.mp3",
        f"http://0177.0.0.1:{port}/files/tone.mp3",
        f"http://0x7f.0.0.1:{port}/files/tone.mp3",
        f"http://[::ffff:127.0.0.1]:{port}/files/tone.mp3",
        f"http://[::1]:{port}/files/tone.mp3",
    ):
        assert await resolve_code(res, url) == "private_network", url
    assert media_server.requests == []


@pytest.fixture
async def public_server(tone: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MediaServer]:
    """A server on 127.0.0.2 that the guard is told to treat as a public address, reached
    through the name media.example (simulated DNS, see ``pretend_public``)."""
    server = MediaServer(files={"tone.mp3": (tone, "audio/mpeg")}, host=PUBLIC_ADDRESS)
    await server.start()
    pretend_public(monkeypatch)
    yield server
    await server.close()


async def test_redirect_to_loopback_refused_on_the_hop(
    public_server: MediaServer,
    media_server: MediaServer,
    make_sources: Callable[..., SourcesConfig],
) -> None:
    res = resolver(make_sources(allow_private_networks=False))
    port = public_server.port
    for target in (
        media_server.url("files/tone.mp3"),
        f"http://2130706433:{media_server.port}/files/tone.mp3",
        f"http://evil.example:{media_server.port}/files/tone.mp3",
        "http://169.254.169.254/latest/meta-data/",
    ):
        url = f"http://media.example:{port}/redirect-to?to={target}"
        assert await resolve_code(res, url) == "private_network", target
    assert public_server.hits("/redirect-to") == 4
    assert media_server.requests == []


async def test_public_host_is_fetched_at_the_checked_address(
    public_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    """media.example exists only in the guard's answer: reaching it proves the connection
    used the checked address instead of asking DNS again."""
    final = await follow(
        f"http://media.example:{public_server.port}/redirect/2", allow_private=False, timeout=5
    )
    assert final.url == f"http://media.example:{public_server.port}/files/tone.mp3"
    assert final.content_type == "audio/mpeg"
    assert final.looks_like_media
    assert public_server.requests == ["/redirect/2", "/redirect/1", "/files/tone.mp3"]
