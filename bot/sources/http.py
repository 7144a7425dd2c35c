"""A direct http(s) link to a media file or a stream (mp3, ogg, m3u8, Icecast radio).

Redirects are followed here, one hop at a time, with the guard run on every hop and the
connection pinned to the addresses the guard approved: a redirect to 127.0.0.1 or a DNS
answer that changes between check and connect cannot reach the host's own network through
this code.  The final URL is then handed to ffprobe (and later to the engine's ffmpeg).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.sources.base import SourceError
from bot.sources.guard import CheckedUrl, check_url

MAX_REDIRECTS = 5
USER_AGENT = "Sattva/0.1 (+voice-chat music bot)"
#: the most of a web page read for its metadata (a streaming service's page)
MAX_PAGE_BYTES = 4 * 1024 * 1024

#: content types that are media without asking ffprobe's opinion first
MEDIA_TYPES = (
    "audio/",
    "video/",
    "application/ogg",
    "application/vnd.apple.mpegurl",
    "application/x-mpegurl",
    "application/dash+xml",
)
HTML_TYPES = ("text/html", "application/xhtml+xml")


class PinnedResolver(AbstractResolver):
    """Answers DNS with the addresses the guard checked, and nothing else."""

    def __init__(self, checked: CheckedUrl) -> None:
        self._checked = checked

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.lower().rstrip(".") != self._checked.host.lower().rstrip("."):
            raise OSError(f"unexpected host {host}")
        results: list[ResolveResult] = []
        for address in self._checked.addresses:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            results.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=fam,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class FinalUrl:
    url: str
    status: int
    content_type: str
    icy_name: str | None
    #: the body, when it was asked for (``follow(..., read=N)``); else empty
    body: bytes = b""

    @property
    def looks_like_media(self) -> bool:
        return self.icy_name is not None or self.content_type.startswith(MEDIA_TYPES)

    @property
    def is_html(self) -> bool:
        return self.content_type.startswith(HTML_TYPES)


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while chunk := await resp.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise SourceError("too_big", f"a page over {limit} bytes")
    return bytes(body)


async def _request_once(
    checked: CheckedUrl, timeout: float, read: int = 0
) -> tuple[int, str, str, str | None, bytes]:
    """Status, Location, Content-Type, icy-name and (up to ``read`` bytes: a page) the body
    of one GET; with ``read=0`` the body is never read."""
    connector = aiohttp.TCPConnector(resolver=PinnedResolver(checked), use_dns_cache=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {"User-Agent": USER_AGENT, "Icy-MetaData": "0", "Range": "bytes=0-"}
    if read:
        headers = {"User-Agent": USER_AGENT, "Accept": "text/html,application/json"}
    async with (
        aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session,
        session.get(checked.url, allow_redirects=False, headers=headers) as resp,
    ):
        content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        body = await _read_body(resp, read) if read and resp.status < 300 else b""
        return (
            resp.status,
            resp.headers.get("Location", ""),
            content_type,
            resp.headers.get("icy-name"),
            body,
        )


async def follow(
    url: str,
    *,
    allow_private: bool,
    timeout: float,
    read: int = 0,
    stop: Callable[[str], bool] | None = None,
) -> FinalUrl:
    """Follows up to MAX_REDIRECTS redirects, guarding each hop; raises SourceError.
    ``read``: also read the final body, up to that many bytes (more: "too_big").
    ``stop``: a redirect target it accepts is returned as the final URL, unfetched."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        checked = await check_url(current, allow_private=allow_private)
        try:
            status, location, content_type, icy, body = await _request_once(checked, timeout, read)
        except TimeoutError:
            raise SourceError("timeout", "the server took too long to answer") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise SourceError("unreachable", type(exc).__name__) from None
        except ValueError:
            # a URL the guard's parser accepted but aiohttp's (yarl) does not
            raise SourceError("unsupported", "malformed URL") from None
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise SourceError("unreachable", "redirect without a Location")
            current = urljoin(current, location)
            if stop is not None and stop(current):
                return FinalUrl(current, status, "", None)
            continue
        if status >= 400:
            raise SourceError("unreachable", f"HTTP {status}")
        return FinalUrl(current, status, content_type, icy, body)
    raise SourceError("unreachable", f"more than {MAX_REDIRECTS} redirects")
