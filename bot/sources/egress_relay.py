"""The egress proxy's answer to one GET/HEAD: the origin's response, read as HTTP so that
what ffmpeg must follow next stays inside the proxy's mapped http world.

ffmpeg cannot open https itself (see ``bot.sources.egress_urls``), so absolute https URLs
in a redirect's ``Location`` and in DASH manifests are rewritten into the mapped form before
ffmpeg sees them, and every body that ffmpeg could read as an HLS playlist is rebuilt so
that it names nothing but http (the guard's part of the HLS mechanism).  A compressed body
ffmpeg did not ask for is refused: ffmpeg would inflate it, and a playlist inside would
escape that check.  Everything else is relayed as it came: the status line (``ICY 200 OK``
included), the headers, the body.  A chunked body is passed on de-chunked and
ended by closing the connection, which every HTTP/1.1 client accepts; one request per
connection keeps the proxy's checks per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bot.sources.egress_urls import (
    MANIFEST_LIMIT,
    Upstream,
    is_dash,
    is_hls,
    rewrite_dash,
    rewrite_hls,
    rewrite_location,
)

#: bytes of a body read before deciding whether it is a manifest
SNIFF_BYTES = 1024
#: response headers that describe the connection or the framing, not the content
_HOP_HEADERS = (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding")


class BadUpstream(Exception):
    """The origin's answer is not HTTP the proxy can relay (or not one it may relay).

    ``unsent``: nothing reached the client yet, so it can still be answered 502."""

    def __init__(self, reason: str, *, unsent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unsent = unsent


@dataclass(slots=True)
class ResponseHead:
    status_line: bytes
    status: int
    headers: list[tuple[bytes, bytes]]

    def get(self, name: bytes) -> str:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1").strip()
        return ""

    def get_all(self, name: bytes) -> str:
        """Every value of a repeated header, comma-joined (ffmpeg may act on any of them)."""
        values = [v.decode("latin-1").strip() for k, v in self.headers if k.lower() == name]
        return ", ".join(values)

    def without(self, *names: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self.headers if k.lower() not in names]


def parse_head(raw: bytes) -> ResponseHead:
    lines = raw.split(b"\r\n")
    status_line = lines[0]
    fields = status_line.split(b" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise BadUpstream("no status")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise BadUpstream("malformed header")
        headers.append((name.strip(), value.strip()))
    return ResponseHead(status_line, int(fields[1]), headers)


class Touch:
    """Pushes an ``asyncio.Timeout`` forward whenever called: an idle timer."""

    def __init__(self, timeout: asyncio.Timeout, idle: float) -> None:
        self._timeout = timeout
        self._idle = idle
        self._loop = asyncio.get_running_loop()

    def __call__(self) -> None:
        self._timeout.reschedule(self._loop.time() + self._idle)


def _serialize(status_line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [status_line, *(k + b": " + v for k, v in headers), b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


async def _body(reader: asyncio.StreamReader, head: ResponseHead) -> AsyncIterator[bytes]:
    """The body's bytes, de-chunked; ends at Content-Length, the last chunk or EOF."""
    if "chunked" in head.get_all(b"transfer-encoding").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadUpstream("bad chunk size") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return
            while size > 0:
                data = await reader.read(min(size, 65536))
                if not data:
                    raise BadUpstream("chunk cut short")
                size -= len(data)
                yield data
            await reader.readexactly(2)
    length = head.get(b"content-length")
    remaining = int(length) if length.isdigit() else -1
    while remaining != 0:
        data = await reader.read(65536 if remaining < 0 else min(remaining, 65536))
        if not data:
            return
        if remaining > 0:
            remaining -= len(data)
        yield data


async def _read(body: AsyncIterator[bytes], start: bytes, limit: int, touch: Touch) -> bytes:
    """``start`` plus the body's bytes until ``limit`` is passed or the body ends."""
    async for data in body:
        touch()
        start += data
        if len(start) > limit:
            break
    return start


def _without_framing(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    dropped = (b"content-length", b"content-range", b"accept-ranges", b"content-encoding")
    kept = [(k, v) for k, v in headers if k.lower() not in dropped]
    return [*kept, (b"Content-Length", str(length).encode())]


async def relay_response(
    method: str,
    upstream: Upstream,
    client: asyncio.StreamWriter,
    reader: asyncio.StreamReader,
    touch: Touch,
    *,
    asked_encoding: bool,
) -> None:
    """Reads the origin's answer from ``reader`` and writes it, adjusted, to ``client``.

    ``touch`` is called whenever bytes move (the caller's idle timer); ``asked_encoding``:
    the client's request allowed compressed bodies (yt-dlp's do, ffmpeg's do not).
    """
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise BadUpstream("no_response_head", unsent=True) from None
    touch()
    try:
        head = parse_head(raw[:-4])
    except BadUpstream as exc:
        raise BadUpstream(exc.reason, unsent=True) from None
    headers = head.without(*_HOP_HEADERS)
    location = head.get(b"location")
    if location:
        mapped = rewrite_location(location, from_tls=upstream.tls).encode("latin-1")
        headers = [(k, mapped if k.lower() == b"location" else v) for k, v in headers]
    no_body = method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200
    if no_body:
        client.write(_serialize(head.status_line, headers))
        await client.drain()
        return
    encoding = head.get_all(b"content-encoding").lower()
    if encoding.replace("identity", "").strip(", ") and not asked_encoding:
        raise BadUpstream("unrequested_encoding", unsent=True)
    if "chunked" in head.get_all(b"transfer-encoding").lower():
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    body = _body(reader, head)
    # every body's start is looked at: ffmpeg reads any body starting "#EXTM3U" as HLS,
    # whatever its status or content type says
    start = await _read(body, b"", SNIFF_BYTES - 1, touch)
    status_line = b"HTTP/1.1 200 OK" if head.status == 206 else head.status_line
    if is_hls(start):
        playlist = await _read(body, start, MANIFEST_LIMIT, touch)
        if len(playlist) > MANIFEST_LIMIT:
            raise BadUpstream("playlist_too_large", unsent=True)
        rewritten = rewrite_hls(playlist, upstream.url)
        client.write(_serialize(status_line, _without_framing(headers, len(rewritten))))
        client.write(rewritten)
        await client.drain()
        return
    content_type = head.get(b"content-type").split(";")[0].strip().lower()
    full = head.status == 200 or (
        head.status == 206
        and head.get(b"content-range").replace(" ", "").lower().startswith("bytes0-")
    )
    if (
        full
        and not encoding.replace("identity", "").strip(", ")
        and is_dash(content_type, upstream.url, start)
    ):
        start = await _read(body, start, MANIFEST_LIMIT, touch)
        if len(start) <= MANIFEST_LIMIT:
            rewritten = rewrite_dash(start)
            client.write(_serialize(status_line, _without_framing(headers, len(rewritten))))
            client.write(rewritten)
            await client.drain()
            return
    client.write(_serialize(head.status_line, headers) + start)
    await client.drain()
    async for data in body:
        touch()
        client.write(data)
        await client.drain()
