"""SSRF tricks: URLs the source guard must refuse, shared by the guard's unit tests and the
reliability suite (which sends them through the whole bot as /play)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from bot.sources import guard

#: literal addresses on private, loopback, link-local... networks: "private_network"
PRIVATE_URLS = [
    "http://127.0.0.1/x.mp3",
    "http://2130706433/x.mp3",  # decimal 127.0.0.1
    "http://0177.0.0.1/x.mp3",  # octal
    "http://0x7f.0.0.1/x.mp3",  # hex
    "http://0x7f000001/x.mp3",
    "http://127.1/x.mp3",  # short form
    "http://[::1]/x.mp3",
    "http://[::ffff:127.0.0.1]/x.mp3",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/x.mp3",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.1.2.3/x.mp3",
    "http://192.168.0.1:8080/x.mp3",
    "http://172.16.5.4/x.mp3",
    "http://100.64.0.1/x.mp3",  # carrier-grade NAT
    "http://0.0.0.0/x.mp3",
    "http://0/x.mp3",
    "http://224.0.0.1/x.mp3",  # multicast
    "http://255.255.255.255/x.mp3",
    "http://[fe80::1]/x.mp3",
    "http://[fc00::1]/x.mp3",
    "http://[ff02::1]/x.mp3",
    "http://[2002:7f00:1::]/x.mp3",  # 6to4 around 127.0.0.1
    "https://user:pw@127.0.0.1/x.mp3",
]

#: schemes and strings that are not a plain http(s) URL (ffmpeg protocols, options): refused
#: as "unsupported" by the guard
UNSUPPORTED = [
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "data:audio/mp3;base64,AAAA",
    "ftp://example.com/a.mp3",
    "gopher://example.com:70/_GET",
    "concat:/etc/passwd|/etc/hosts",
    "subfile:,,start,0,end,0,,:/etc/passwd",
    "pipe:0",
    "tcp://example.com:80",
    "hls+http://example.com/a.m3u8",
    "rtmp://example.com/live",
    "crypto:/etc/passwd",
    "-i",
    "-protocol_whitelist",
    "http://exa mple.com/a.mp3",
    "http://example.com/a.mp3\n-f",
    "http://example.com/\x00.mp3",
    "http://example.com\\@127.0.0.1/a.mp3",
    "http:///no-host",
    "http://example.com:99999/a.mp3",
    "http://[fe80::1%25eth0]/a.mp3",
    "example.com/a.mp3",
    "",
]


def loopback_spellings(port: int, path: str = "/files/a.mp3") -> list[str]:
    """The loopback media server at ``port``, spelled every way that might slip through."""
    return [
        f"http://127.0.0.1:{port}{path}",
        f"http://2130706433:{port}{path}",  # decimal
        f"http://0177.0.0.1:{port}{path}",  # octal
        f"http://0x7f.0.0.1:{port}{path}",  # hex
        f"http://0x7f000001:{port}{path}",
        f"http://127.1:{port}{path}",
        f"http://[::ffff:127.0.0.1]:{port}{path}",  # IPv4-mapped IPv6
        f"http://[::1]:{port}{path}",
        f"http://user:pw@127.0.0.1:{port}{path}",
        f"http://localhost:{port}{path}",  # a name: DNS says loopback
    ]


PUBLIC_HOST = "media.example"  # resolves to PUBLIC_ADDRESS, which the guard is told is public
PUBLIC_ADDRESS = "127.0.0.2"
#: names whose (simulated) DNS answer is private
PRIVATE_NAMES = {
    "localhost": ["127.0.0.1", "::1"],
    "evil.example": ["127.0.0.1"],
    "internal.example": ["93.184.216.34", "10.0.0.7"],  # one bad address is enough
    "mapped.example": ["::ffff:127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
}


def pretend_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated DNS (PUBLIC_HOST, PRIVATE_NAMES; any other name does not resolve) and a
    guard that takes PUBLIC_ADDRESS for a public one: the way to test redirects from a
    "public" host to private addresses without the internet."""
    real_is_public = guard.is_public

    def is_public(address: IPv4Address | IPv6Address) -> bool:
        return str(address) == PUBLIC_ADDRESS or real_is_public(address)

    async def resolve_host(host: str, port: int) -> list[str]:
        if host == PUBLIC_HOST:
            return [PUBLIC_ADDRESS]
        if host in PRIVATE_NAMES:
            return PRIVATE_NAMES[host]
        raise OSError("no such host")

    monkeypatch.setattr(guard, "is_public", is_public)
    monkeypatch.setattr(guard, "resolve_host", resolve_host)
