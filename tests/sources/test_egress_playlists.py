"""Playlists from a "public" server that name a private address in every place HLS and DASH
allow one, with every protocol prefix ffmpeg's demuxers accept: nothing may connect to it,
at probe time or during playback.  And honest http and https media still play, the https
ones through the proxy's own (verified) TLS.

"Public" is the 127.0.0.2 seam of ``pretend_public``; the private target is a
``CountingListener`` on 127.0.0.1 that counts every connection it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.engines.base import FirstFrame, PlayRequest, TrackEnded, TrackFailed
from bot.engines.local import LocalEngine
from bot.metrics import SOURCE_FAILURES
from bot.sources.base import SourceError
from bot.sources.probe import probe
from tests.engines.test_local import Recorder
from tests.support.egress import CountingListener, SelfSignedCert, routed_through_egress
from tests.support.media_server import MediaServer
from tests.support.ssrf_corpus import PUBLIC_ADDRESS, PUBLIC_HOST, pretend_public

#: how a playlist can spell the private target; {port} is the listener's
SCHEMES = {
    "httpproxy": "httpproxy://127.0.0.1:{port}/x",
    "https": "https://127.0.0.1:{port}/x",
    "tcp": "tcp://127.0.0.1:{port}/x",
    "http": "http://127.0.0.1:{port}/x",
    "crypto": "crypto+httpproxy://127.0.0.1:{port}/x",
}

#: the places an HLS playlist names a URL; {uri} is the hostile one
HLS_SHAPES = {
    "segment": "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{uri}.ts\n#EXT-X-ENDLIST\n",
    "key": (
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="{uri}.key",IV=0x00000000000000000000000000000001\n'
        "#EXTINF:1.0,\nseg0.ts\n#EXT-X-ENDLIST\n"
    ),
    "map": (
        '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI="{uri}.mp4"\n'
        "#EXTINF:1.0,\nseg0.ts\n#EXT-X-ENDLIST\n"
    ),
    "variant": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000\n{uri}.m3u8\n",
    "rendition": (
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",DEFAULT=YES,URI="{uri}.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=64000,AUDIO="a"\nlist.m3u8\n'
    ),
}

M3U8 = "application/vnd.apple.mpegurl"


def _adder(files: dict[str, tuple[Path, str]], folder: Path) -> Callable[[str, str, str], None]:
    """``add(name, text, type)``: one more file for a MediaServer serving ``files``."""

    def add(name: str, text: str, content_type: str) -> None:
        path = folder / name
        path.write_text(text)
        files[name] = (path, content_type)

    return add


@pytest.fixture(scope="session")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second DASH presentation (manifest.mpd, init and media segments)."""
    folder = tmp_path_factory.mktemp("dash")
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", "-b:a", "64k",
            "-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "0",
            str(folder / "manifest.mpd"),
        ],
        check=True,
    )  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    return SelfSignedCert.make(tmp_path_factory.mktemp("tls"), PUBLIC_HOST)


@pytest.fixture
async def public(
    served_files: dict[str, tuple[Path, str]],
    dash: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[MediaServer, Callable[[str, str, str], None]]]:
    """The media server on the "public" address (PUBLIC_HOST), and ``add(name, text, type)``
    to serve one more file from it."""
    files = dict(served_files)
    for name in (
        "manifest.mpd",
        "init-stream0.m4s",
        *(f"chunk-stream0-0000{i}.m4s" for i in (1, 2, 3)),
    ):
        files[name] = (
            dash / name,
            "application/dash+xml" if name.endswith(".mpd") else "video/mp4",
        )
    server = MediaServer(files=files, host=PUBLIC_ADDRESS)
    await server.start()
    pretend_public(monkeypatch)
    yield server, _adder(files, tmp_path)
    await server.close()


@pytest.fixture
async def listener() -> AsyncIterator[CountingListener]:
    server = CountingListener()
    await server.start()
    yield server
    await server.close()


@contextlib.asynccontextmanager
async def answering(answer: bytes) -> AsyncIterator[int]:
    """A "public" server on PUBLIC_ADDRESS that answers every request with ``answer`` as
    is (heads no HTTP library would write); yields its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, PUBLIC_ADDRESS, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def refusals() -> float:
    return sum(
        sample.value
        for metric in SOURCE_FAILURES.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("kind") == "egress"
    )


async def probe_quietly(url: str) -> None:
    """Probes ``url``; whether ffprobe accepts what is left after the refusals is not the
    point here, only where it connected."""
    with contextlib.suppress(SourceError):
        await probe(url, timeout=20, max_seconds=60)


@pytest.mark.parametrize("shape", sorted(HLS_SHAPES))
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
async def test_hls_cannot_reach_a_private_address(
    public: tuple[MediaServer, Callable[[str, str, str], None]],
    listener: CountingListener,
    shape: str,
    scheme: str,
) -> None:
    server, add = public
    uri = SCHEMES[scheme].format(port=listener.port)
    add("evil.m3u8", HLS_SHAPES[shape].format(uri=uri), M3U8)
    async with routed_through_egress(allow_private=False) as egress:
        await probe_quietly(f"http://{PUBLIC_HOST}:{server.port}/files/evil.m3u8")
        assert egress.active == 0
    assert server.hits("/files/evil.m3u8") >= 1
    assert listener.connections == 0


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("where", ["mpd", "representation"])
async def test_dash_base_url_cannot_reach_a_private_address(
    public: tuple[MediaServer, Callable[[str, str, str], None]],
    listener: CountingListener,
    dash: Path,
    scheme: str,
    where: str,
) -> None:
    server, add = public
    base = f"<BaseURL>{SCHEMES[scheme].format(port=listener.port)}/</BaseURL>"
    mpd = (dash / "manifest.mpd").read_text()
    if where == "mpd":
        mpd = mpd.replace("<Period ", base + "\n<Period ", 1)
    else:
        mpd = mpd.replace("<SegmentTemplate ", base + "\n<SegmentTemplate ", 1)
    assert base in mpd
    add("evil.mpd", mpd, "application/dash+xml")
    async with routed_through_egress(allow_private=False):
        await probe_quietly(f"http://{PUBLIC_HOST}:{server.port}/files/evil.mpd")
    assert server.hits("/files/evil.mpd") >= 1
    assert listener.connections == 0


async def test_honest_then_hostile_segments_during_playback(
    public: tuple[MediaServer, Callable[[str, str, str], None]],
    listener: CountingListener,
) -> None:
    """The probe sees honest segments; the player's own ffmpeg meets the hostile one."""
    server, add = public
    hostile = [SCHEMES[s].format(port=listener.port) for s in ("httpproxy", "https", "tcp")]
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1"]
    for segment in ["seg0.ts", "seg1.ts", *(f"{uri}.ts" for uri in hostile), "seg2.ts"]:
        lines += ["#EXTINF:1.0,", segment]
    add("late.m3u8", "\n".join([*lines, "#EXT-X-ENDLIST", ""]), M3U8)
    url = f"http://{PUBLIC_HOST}:{server.port}/files/late.m3u8"
    engine = LocalEngine()
    recorder = Recorder()
    engine.set_handler(recorder)
    await engine.start()
    try:
        async with routed_through_egress(allow_private=False):
            assert (await probe(url, timeout=20, max_seconds=60)).duration is not None
            await engine.play(PlayRequest(-100, "late", url))
            await recorder.wait_for(FirstFrame, timeout=20)
            ended = await recorder.wait_for(TrackEnded, timeout=30)
    finally:
        await engine.close()
    assert ended == TrackEnded(-100, "late")
    assert not recorder.of(TrackFailed)
    # playback went past the hostile entries to the last honest segment
    assert server.hits("/files/seg1.ts") >= 2
    assert server.hits("/files/seg2.ts") >= 1
    assert listener.connections == 0


def _variant_to(port: int) -> bytes:
    return f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\ntcp://127.0.0.1:{port}/v.m3u8\n".encode()


def _icy(data: bytes, interval: int) -> bytes:
    """``data`` with an empty ICY metadata block after every ``interval`` bytes."""
    return b"\x00".join(data[i : i + interval] for i in range(0, len(data), interval))


def _id3(payload: bytes) -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00" + bytes([len(payload)]) + payload


#: answers whose playlist only appears after ffmpeg's own processing of the response
DISGUISES: dict[str, Callable[[bytes], bytes]] = {
    # ffmpeg inflates a gzip body it did not ask for
    "gzip": lambda playlist: (
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(gzip.compress(playlist))
        )
        + gzip.compress(playlist)
    ),
    # ffmpeg drops ICY metadata blocks
    "icy": lambda playlist: b"HTTP/1.1 200 OK\r\nicy-metaint: 3\r\n\r\n" + _icy(playlist, 3),
    # ffmpeg skips ID3v2 tags before a top-level input
    "id3": lambda playlist: b"HTTP/1.1 200 OK\r\n\r\n" + _id3(b"\x00" * 20) + playlist,
    # ffmpeg ends the head at a bare LF line; a CRLF-only reader would take the body for head
    "bare-lf": lambda playlist: b"HTTP/1.1 200 OK\nX: y\n\n" + playlist + b"\r\n\r\n",
}


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
async def test_disguised_playlist_cannot_reach_a_private_address(
    listener: CountingListener, monkeypatch: pytest.MonkeyPatch, disguise: str
) -> None:
    pretend_public(monkeypatch)
    async with (
        answering(DISGUISES[disguise](_variant_to(listener.port))) as port,
        routed_through_egress(allow_private=False),
    ):
        await probe_quietly(f"http://{PUBLIC_HOST}:{port}/list.m3u8")
    assert listener.connections == 0


async def test_mapped_https_to_a_private_address_refused(listener: CountingListener) -> None:
    before = refusals()
    async with routed_through_egress(allow_private=False):
        with pytest.raises(SourceError):
            await probe(f"https://127.0.0.1:{listener.port}/a.mp3", timeout=15, max_seconds=60)
    assert listener.connections == 0
    assert refusals() == before + 1


# -- honest media still plays ------------------------------------------------------------------


@pytest.fixture
async def tls_public(
    served_files: dict[str, tuple[Path, str]],
    cert: SelfSignedCert,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[MediaServer, Callable[[str, str, str], None]]]:
    """The media server over https on the "public" address, certified for PUBLIC_HOST."""
    files = dict(served_files)
    server = MediaServer(files=files, host=PUBLIC_ADDRESS, tls=cert.server_context())
    await server.start()
    pretend_public(monkeypatch)
    yield server, _adder(files, tmp_path)
    await server.close()


async def test_https_media_plays_through_the_proxy_tls(
    tls_public: tuple[MediaServer, Callable[[str, str, str], None]], cert: SelfSignedCert
) -> None:
    server, _ = tls_public
    url = f"https://{PUBLIC_HOST}:{server.port}/redirect/2"
    async with routed_through_egress(allow_private=False, tls=cert.client_context()):
        result = await probe(url, timeout=20, max_seconds=60)
    assert result.title == "Test Tone"
    assert server.requests[:3] == ["/redirect/2", "/redirect/1", "/files/tone.mp3"]


async def test_https_playlists_rewritten_for_ffmpeg(
    tls_public: tuple[MediaServer, Callable[[str, str, str], None]],
    public: tuple[MediaServer, Callable[[str, str, str], None]],
    cert: SelfSignedCert,
) -> None:
    """Absolute https segment, key-less variant and redirect URLs, in playlists served over
    http and over https: ffmpeg gets them in the mapped form and plays them."""
    secure, add_secure = tls_public
    plain, add_plain = public
    origin = f"https://{PUBLIC_HOST}:{secure.port}"
    segments = "".join(f"#EXTINF:1.0,\n{origin}/files/seg{i}.ts\n" for i in range(2))
    media = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n{segments}#EXT-X-ENDLIST\n"
    add_secure("abs.m3u8", media, M3U8)
    add_plain("abs.m3u8", media, M3U8)
    add_secure(
        "master.m3u8", f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{origin}/files/abs.m3u8\n", M3U8
    )
    async with routed_through_egress(allow_private=False, tls=cert.client_context()):
        for url in (
            f"{origin}/files/master.m3u8",
            f"http://{PUBLIC_HOST}:{plain.port}/files/abs.m3u8",
            f"http://{PUBLIC_HOST}:{plain.port}/redirect-to?to={origin}/files/list.m3u8",
        ):
            result = await probe(url, timeout=20, max_seconds=60)
            assert result.duration is not None, url
    assert secure.hits("/files/seg0.ts") >= 2
    assert secure.hits("/files/seg1.ts") >= 1  # from list.m3u8's relative names


async def test_unverified_certificate_refused(
    tls_public: tuple[MediaServer, Callable[[str, str, str], None]],
) -> None:
    """The production default (the system's CAs) does not trust a self-signed server."""
    server, _ = tls_public
    before = SOURCE_FAILURES.labels(kind="egress", reason="tls_failed")._value.get()
    async with routed_through_egress(allow_private=False):
        with pytest.raises(SourceError):
            await probe(
                f"https://{PUBLIC_HOST}:{server.port}/files/tone.mp3", timeout=15, max_seconds=60
            )
    assert server.requests == []
    assert SOURCE_FAILURES.labels(kind="egress", reason="tls_failed")._value.get() == before + 1


async def test_icy_radio_still_plays(tone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Icecast answer (``ICY 200 OK``, metadata every 1000 bytes) is relayed with its
    interval, so ffmpeg still removes the metadata blocks itself."""
    block = b"StreamTitle='Live Song';".ljust(32, b"\x00")
    data = await asyncio.to_thread(tone.read_bytes)
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    body = (b"\x02" + block).join(chunks)
    answer = (
        b"ICY 200 OK\r\nicy-name: Test FM\r\nicy-metaint: 1000\r\n"
        b"Content-Type: audio/mpeg\r\n\r\n" + body
    )

    pretend_public(monkeypatch)
    async with answering(answer) as port, routed_through_egress(allow_private=False):
        result = await probe(f"http://{PUBLIC_HOST}:{port}/stream", timeout=20, max_seconds=60)
    assert result.title == "Test Tone"
    assert result.is_live
