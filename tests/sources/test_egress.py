"""The egress proxy against real servers on loopback: refusals that reach nothing, public
targets forwarded byte for byte, redirects handed back (never followed), CONNECT checked,
and real ffprobe runs whose every hop goes through the guard.

"Public" is the 127.0.0.2 seam of ``pretend_public``; a name like ``media.example`` only
resolves through the guard's (simulated) DNS, so ffmpeg reaching it proves it used the proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.metrics import SOURCE_FAILURES
from bot.sources.base import SourceError
from bot.sources.egress import HEADER_LIMIT, EgressProxy
from bot.sources.probe import probe
from tests.support.egress import CountingListener, raw_exchange, routed_through_egress
from tests.support.media_server import MediaServer
from tests.support.ssrf_corpus import PUBLIC_ADDRESS, PUBLIC_HOST, pretend_public


def refusals(reason: str) -> float:
    return float(SOURCE_FAILURES.labels(kind="egress", reason=reason)._value.get())


def get(url: str) -> bytes:
    return (
        f"GET {url} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\nUser-Agent: test\r\n\r\n"
    ).encode()


def forbidden(reason: str) -> bytes:
    body = f"{reason}\n"
    return (
        "HTTP/1.1 403 Refused\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    ).encode()


@pytest.fixture
async def public(
    served_files: dict[str, tuple[Path, str]], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MediaServer]:
    """The media server on the "public" address, reachable by name as PUBLIC_HOST."""
    server = MediaServer(files=served_files, host=PUBLIC_ADDRESS)
    await server.start()
    pretend_public(monkeypatch)
    yield server
    await server.close()


@pytest.fixture
async def listener() -> AsyncIterator[CountingListener]:
    server = CountingListener()
    await server.start()
    yield server
    await server.close()


async def test_private_targets_refused_without_a_request(media_server: MediaServer) -> None:
    before = refusals("private_network")
    urls = [
        media_server.url("files/tone.mp3"),
        f"http://2130706433:{media_server.port}/files/tone.mp3",
        f"http://0x7f.1:{media_server.port}/files/tone.mp3",
        f"http://[::ffff:127.0.0.1]:{media_server.port}/files/tone.mp3",
        f"http://localhost:{media_server.port}/files/tone.mp3",
    ]
    async with routed_through_egress(allow_private=False) as egress:
        for url in urls:
            assert await raw_exchange(egress.port, get(url)) == forbidden("private_network")
        assert egress.active == 0
    assert media_server.requests == []
    assert refusals("private_network") == before + len(urls)


async def test_public_target_forwarded_byte_for_byte(
    public: MediaServer, served_files: dict[str, tuple[Path, str]]
) -> None:
    url = f"http://{PUBLIC_HOST}:{public.port}/files/tone.mp3?x=1"
    async with routed_through_egress(allow_private=False) as egress:
        answer = await raw_exchange(egress.port, get(url))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: audio/mpeg" in head
    assert body == served_files["tone.mp3"][0].read_bytes()
    assert public.requests == ["/files/tone.mp3?x=1"]


async def test_redirect_handed_back_not_followed(
    public: MediaServer, media_server: MediaServer
) -> None:
    inside = media_server.url("files/tone.mp3")
    url = f"http://{PUBLIC_HOST}:{public.port}/redirect-to?to={inside}"
    async with routed_through_egress(allow_private=False) as egress:
        answer = await raw_exchange(egress.port, get(url))
        assert answer.startswith(b"HTTP/1.1 302 Found\r\n")
        assert f"Location: {inside}\r\n".encode() in answer
        # the client's next request, for the Location, is checked in turn
        assert await raw_exchange(egress.port, get(inside)) == forbidden("private_network")
    assert public.hits("/redirect-to") == 1
    assert media_server.requests == []


async def test_ffprobe_redirect_to_loopback_refused_at_the_proxy(
    public: MediaServer, media_server: MediaServer
) -> None:
    inside = media_server.url("files/tone.mp3")
    url = f"http://{PUBLIC_ADDRESS}:{public.port}/redirect-to?to={inside}"
    # without the proxy ffprobe follows the redirect into loopback: the hole this closes
    assert (await probe(url, timeout=15, max_seconds=60)).title == "Test Tone"
    assert media_server.requests == ["/files/tone.mp3"]
    media_server.requests.clear()
    async with routed_through_egress(allow_private=False):
        with pytest.raises(SourceError) as err:
            await probe(url, timeout=15, max_seconds=60)
    assert err.value.code == "unreachable"
    assert public.hits("/redirect-to") == 2
    assert media_server.requests == []


async def test_ffprobe_plays_through_the_proxy(public: MediaServer) -> None:
    # ffprobe cannot resolve PUBLIC_HOST itself: only the proxy's guarded DNS knows it
    url = f"http://{PUBLIC_HOST}:{public.port}/redirect/2"
    async with routed_through_egress(allow_private=False) as egress:
        result = await probe(url, timeout=15, max_seconds=60)
        assert egress.active == 0
    assert result.title == "Test Tone"
    assert result.duration is not None
    assert 1.9 < result.duration < 2.2
    assert public.requests[:3] == ["/redirect/2", "/redirect/1", "/files/tone.mp3"]


async def test_ffprobe_hls_segments_go_through_the_proxy(public: MediaServer) -> None:
    url = f"http://{PUBLIC_HOST}:{public.port}/files/list.m3u8"
    async with routed_through_egress(allow_private=False):
        result = await probe(url, timeout=15, max_seconds=60)
    assert result.duration is not None
    assert 1.5 < result.duration < 2.5
    assert public.hits("/files/seg0.ts") >= 1


async def test_connect_to_private_refused(listener: CountingListener) -> None:
    async with routed_through_egress(allow_private=False) as egress:
        answer = await raw_exchange(
            egress.port, f"CONNECT 127.0.0.1:{listener.port} HTTP/1.1\r\n\r\n".encode()
        )
    assert answer == forbidden("private_network")
    assert listener.connections == 0


async def test_ffmpeg_https_uses_connect_and_is_refused(listener: CountingListener) -> None:
    before = refusals("private_network")
    async with routed_through_egress(allow_private=False):
        with pytest.raises(SourceError) as err:
            await probe(f"https://127.0.0.1:{listener.port}/a.mp3", timeout=15, max_seconds=60)
    assert err.value.code == "unreachable"
    assert listener.connections == 0
    assert refusals("private_network") == before + 1


async def test_connect_to_public_tunnels_both_ways(
    public: MediaServer, served_files: dict[str, tuple[Path, str]]
) -> None:
    async with routed_through_egress(allow_private=False) as egress:
        request = (
            f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1\r\n\r\n"
            "GET /files/notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = await raw_exchange(egress.port, request.encode())
    established, _, rest = answer.partition(b"\r\n\r\n")
    assert established == b"HTTP/1.1 200 Connection established"
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(served_files["notes.txt"][0].read_bytes())
    assert public.requests == ["/files/notes.txt"]


async def test_private_allowed_when_configured(media_server: MediaServer) -> None:
    async with routed_through_egress(allow_private=True):
        result = await probe(media_server.url("files/tone.mp3"), timeout=15, max_seconds=60)
    assert result.title == "Test Tone"
    assert media_server.requests == ["/files/tone.mp3"]


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"POST http://x/ HTTP/1.1\r\n\r\n", 405, "method_not_allowed"),
        (b"GET /relative HTTP/1.1\r\n\r\n", 400, "not_absolute_http"),
        (b"GET https://x/ HTTP/1.1\r\n\r\n", 400, "not_absolute_http"),
        (b"nonsense\r\n\r\n", 400, "malformed_request"),
        (b"GET http://x/ SMTP\r\n\r\n", 400, "malformed_request"),
        (
            b"GET http://x/ HTTP/1.1\r\nX: " + b"a" * HEADER_LIMIT + b"\r\n\r\n",
            431,
            "head_too_large",
        ),
        (b"CONNECT file:///etc/passwd HTTP/1.1\r\n\r\n", 400, "malformed_request"),
        (b"CONNECT a@127.0.0.1:80 HTTP/1.1\r\n\r\n", 400, "malformed_request"),
        (b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n", 400, "malformed_request"),
        (b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n", 403, "private_network"),
        (b"GET http://0.0.0.0:1/ HTTP/1.1\r\n\r\n", 403, "private_network"),
    ],
)
async def test_bad_requests_answered(request_bytes: bytes, status: int, reason: str) -> None:
    async with routed_through_egress(allow_private=False) as egress:
        answer = await raw_exchange(egress.port, request_bytes)
    assert answer.startswith(f"HTTP/1.1 {status} Refused\r\n".encode())
    assert answer.endswith(f"\r\n\r\n{reason}\n".encode())


async def test_close_ends_open_tunnels(public: MediaServer) -> None:
    async with routed_through_egress(allow_private=False) as egress:
        reader, writer = await asyncio.open_connection("127.0.0.1", egress.port)
        writer.write(f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1\r\n\r\n".encode())
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n"
        assert egress.active == 1
    async with asyncio.timeout(5):
        assert await reader.read(-1) == b""
    writer.close()


async def test_tunnel_cap_and_idle_close(public: MediaServer) -> None:
    proxy = EgressProxy(allow_private=False, max_tunnels=1, idle_timeout=0.3)
    await proxy.start()
    connect = f"CONNECT {PUBLIC_HOST}:{public.port} HTTP/1.1\r\n\r\n".encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(connect)
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n"
        # one tunnel open: the next connection is turned away, not queued
        second = await raw_exchange(proxy.port, connect)
        assert second.startswith(b"HTTP/1.1 503 Refused\r\n")
        assert second.endswith(b"\r\n\r\ntoo_many_connections\n")
        # both sides silent past the idle limit: the proxy closes the tunnel
        async with asyncio.timeout(5):
            assert await reader.read(-1) == b""
        writer.close()
        assert proxy.active == 0
        assert (await raw_exchange(proxy.port, connect + b"\r\n"))[:12] == b"HTTP/1.1 200"
    finally:
        await proxy.close()
