"""The https mapping and the playlist rebuild, on their own: what ffmpeg gets to read."""

from __future__ import annotations

import pytest

from bot.sources.egress_urls import (
    REFUSED_URL,
    is_hls,
    rewrite_dash,
    rewrite_hls,
    rewrite_location,
    to_proxied,
    upstream_of,
)

S = ".https.egress.invalid"


@pytest.mark.parametrize(
    ("url", "mapped", "real", "host", "port"),
    [
        ("https://cdn.example/a/b.m3u8?x=1", f"http://cdn.example{S}:443/a/b.m3u8?x=1",
         "https://cdn.example:443/a/b.m3u8?x=1", "cdn.example", 443),
        ("https://cdn.example:8443/", f"http://cdn.example{S}:8443/",
         "https://cdn.example:8443/", "cdn.example", 8443),
        ("https://[2001:db8::1]/s.ts", f"http://v6-2001-db8--1{S}:443/s.ts",
         "https://[2001:db8::1]:443/s.ts", "2001:db8::1", 443),
        ("http://plain.example/a.mp3", "http://plain.example/a.mp3",
         "http://plain.example:80/a.mp3", "plain.example", 80),
    ],
)  # fmt: skip
def test_mapping_round_trip(url: str, mapped: str, real: str, host: str, port: int) -> None:
    assert to_proxied(url) == mapped
    upstream = upstream_of(mapped)
    assert (upstream.url, upstream.host, upstream.port) == (real, host, port)
    assert upstream.tls == url.startswith("https")


def test_relative_references_keep_the_tls_upstream() -> None:
    from urllib.parse import urljoin

    base = to_proxied("https://cdn.example/live/list.m3u8")
    assert upstream_of(urljoin(base, "seg1.ts")).url == "https://cdn.example:443/live/seg1.ts"
    assert upstream_of(urljoin(base, "/k.key")).url == "https://cdn.example:443/k.key"


def test_location_rewritten() -> None:
    assert rewrite_location("https://b.example/x", from_tls=False) == f"http://b.example{S}:443/x"
    assert rewrite_location("//b.example/x", from_tls=True) == f"http://b.example{S}:443/x"
    assert rewrite_location("//b.example/x", from_tls=False) == "//b.example/x"
    assert rewrite_location("/x", from_tls=True) == "/x"


def test_hls_rebuilt_with_only_http() -> None:
    base = "https://cdn.example:443/a/list.m3u8"
    playlist = (
        b"\xef\xbb\xbf#EXTM3U\r\n#EXT-X-TARGETDURATION:1\r"
        b'#EXT-X-KEY:METHOD=AES-128,URI="tcp://10.0.0.1:6379/k.key",IV=0x01\n'
        b'#EXT-X-MAP:URI = "x",URI="httpproxy://127.0.0.1:22/i.mp4"\n'
        b'#EXT-X-MEDIA:TYPE=AUDIO,URI="a\\"b.m3u8",NAME=x\n'
        b"#EXTINF:1.0,\nseg0.ts\x00#EXTINF:1.0,\n//other.example/s1.ts\n"
        b"#EXTINF:1.0,\ncrypto+tcp://10.0.0.1/s2.ts\n#EXTINF:1.0,\n  tcp://x/y\n"
        b"#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://plain.example/v.m3u8\n"
    )
    assert is_hls(playlist)
    lines = rewrite_hls(playlist, base).decode().split("\n")
    assert lines[:2] == ["#EXTM3U", "#EXT-X-TARGETDURATION:1"]
    assert lines[2] == f'#EXT-X-KEY:METHOD="AES-128",URI="{REFUSED_URL}.key",IV="0x01"'
    # ffmpeg reads keys "URI " and '"x",URI' here (not "URI"): dropped, like anything odd
    assert lines[3] == "#EXT-X-MAP:"
    assert lines[4] == (
        f'#EXT-X-MEDIA:TYPE="AUDIO",URI="http://cdn.example{S}:443/a/a\\"b.m3u8",NAME="x"'
    )
    uris = [line for line in lines if line and not line.startswith("#")]
    assert uris == [
        f"http://cdn.example{S}:443/a/seg0.ts",
        f"http://other.example{S}:443/s1.ts",
        f"{REFUSED_URL}.ts",
        REFUSED_URL,  # ffmpeg would read "  tcp://x/y" as relative; refused all the same
        "http://plain.example/v.m3u8",
    ]


def test_dash_https_rewritten() -> None:
    mpd = (
        b"<MPD><BaseURL>https://cdn.example/d/</BaseURL><BaseURL>http://p.example/</BaseURL></MPD>"
    )
    assert (
        rewrite_dash(mpd)
        == (
            f"<MPD><BaseURL>http://cdn.example{S}:443/d/</BaseURL>"
            "<BaseURL>http://p.example/</BaseURL></MPD>"
        ).encode()
    )


def test_icy_blocks_removed_like_ffmpeg() -> None:
    from bot.sources.egress_view import without_icy

    wire = b"abc" + b"\x01" + b"x" * 16 + b"def" + b"\x00" + b"gh"
    assert without_icy(wire, 3) == b"abcdefgh"
    assert without_icy(wire[:10], 3) == b"abc"  # a prefix gives a prefix
    assert without_icy(wire, 0) == wire


def test_id3_tags_skipped_like_ffmpeg() -> None:
    from bot.sources.egress_view import BadUpstream, data_starts

    tag = b"ID3\x04\x00\x00\x00\x00\x00\x05" + b"\x00" * 5
    footer_tag = b"ID3\x04\x00\x10\x00\x00\x00\x05" + b"\x00" * 15
    assert data_starts(b"#EXTM3U", complete=True) == [0]
    assert data_starts(tag + b"#EXTM3U", complete=True) == [15]
    assert data_starts(tag[:8], complete=False) is None
    # with the footer flag, ffmpeg's two readers disagree: both starts are looked at
    assert data_starts(footer_tag + b"#EXTM3U", complete=True) == [15, 25]
    with pytest.raises(BadUpstream):
        data_starts(tag * 9 + b"x" * 20, complete=True)
