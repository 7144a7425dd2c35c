"""URL checks before anything is fetched: the bot must not become a proxy into the host's
own network (SSRF) or a reader of local files through ffmpeg's protocols.

Only http(s) URLs pass, and only when every address the host resolves to is a public
unicast address.  IP literals in any spelling (decimal ``2130706433``, octal ``0177.0.0.1``,
hex ``0x7f.1``, IPv4-mapped IPv6) are normalised the way the C resolver would read them, so
the check sees the address a client would connect to.  The checked addresses are returned
so that the fetch can be pinned to them (see ``http.PinnedResolver``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from bot.ffmpeg import has_control_chars
from bot.sources.base import SourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: the only schemes a user-given URL may use
ALLOWED_SCHEMES = ("http", "https")
#: how long a DNS lookup may take before the URL counts as unreachable
RESOLVE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def split_url(url: str) -> SplitResult:
    """Syntax checks that need no network; raises SourceError("unsupported")."""
    if not url or url.startswith("-") or has_control_chars(url) or any(c.isspace() for c in url):
        raise SourceError("unsupported", "not a plain URL")
    if "\\" in url:
        # parsers disagree on backslashes ("http://a\\@b"): refuse instead of guessing
        raise SourceError("unsupported", "backslash in URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SourceError("unsupported", "malformed URL") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise SourceError("unsupported", f"scheme {parts.scheme or '(none)'!r}")
    if not parts.hostname or "%" in parts.hostname:
        raise SourceError("unsupported", "no host")
    if port == 0:
        raise SourceError("unsupported", "port 0")
    return parts


def literal_address(host: str) -> IPAddress | None:
    """The address an IP literal means, in any spelling inet_aton accepts; else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # "2130706433", "0177.0.0.1", "0x7f.1", "127.1": the forms a C client reads as IPv4
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(address: IPAddress) -> bool:
    """True only for global unicast; embedded IPv4 (mapped, 6to4, Teredo) is checked too."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None and not is_public(embedded):
            return False
        if address.teredo is not None and not is_public(address.teredo[1]):
            return False
        if address.ipv4_mapped is not None:
            return True
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address of ``host``; the one seam tests replace to simulate DNS answers."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_url(url: str, *, allow_private: bool) -> CheckedUrl:
    """Syntax, scheme and address checks; raises SourceError with the reason's code."""
    parts = split_url(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    literal = literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT):
                addresses = await resolve_host(host, port)
        except (OSError, TimeoutError, UnicodeError):
            raise SourceError("unreachable", f"cannot resolve {host}") from None
        if not addresses:
            raise SourceError("unreachable", f"cannot resolve {host}")
    parsed: list[IPAddress] = []
    for raw in addresses:
        try:
            parsed.append(ipaddress.ip_address(raw.split("%", 1)[0]))
        except ValueError:
            raise SourceError("unreachable", f"odd address for {host}") from None
    if not allow_private:
        for address in parsed:
            if not is_public(address):
                raise SourceError("private_network", f"{host} resolves to {address}")
    return CheckedUrl(url, scheme, host, port, tuple(str(a) for a in parsed))
