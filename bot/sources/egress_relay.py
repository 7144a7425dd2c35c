"""The egress proxy's answer to one GET/HEAD: the origin's response, read as HTTP so that
what ffmpeg must follow next stays inside the proxy's mapped http world.

ffmpeg cannot open https itself (see ``bot.sources.egress_urls``), so absolute https URLs
in a redirect's ``Location`` and in DASH manifests are rewritten into the mapped form before
ffmpeg sees them, and every body that ffmpeg could read as an HLS playlist is rebuilt so
that it names nothing but http (the guard's part of the HLS mechanism), judged on the bytes
ffmpeg will parse (``egress_view``).  The status line (``ICY 200 OK`` included), the
headers and the body are otherwise relayed as they came.  A chunked body is passed on
de-chunked and ended by closing the connection, which every HTTP/1.1 client accepts; one
request per connection keeps the proxy's checks per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.sources.egress_urls import (
    MANIFEST_LIMIT,
    Upstream,
    is_dash,
    is_hls,
    rewrite_dash,
    rewrite_hls,
    rewrite_location,
)
from bot.sources.egress_view import (
    BadUpstream,
    ResponseHead,
    data_starts,
    icy_interval,
    read_head,
    without_icy,
)

__all__ = ["BadUpstream", "Touch", "relay_response"]

#: bytes of a body's start (after ID3 tags) looked at before it is relayed
SNIFF_BYTES = 1024
#: headers the proxy sets itself (framing, connection) instead of passing the origin's on
_OWN_HEADERS = (
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"content-length",
    b"icy-metaint",
)


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


async def _body(
    reader: asyncio.StreamReader, *, chunked: bool, length: int | None
) -> AsyncIterator[bytes]:
    """The body's bytes, de-chunked; ends at the length, the last chunk or EOF."""
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadUpstream("bad_chunk") from None
            if size == 0:
                return  # trailers, if any, are not needed: the connection closes
            while size > 0:
                data = await reader.read(min(size, 65536))
                if not data:
                    raise BadUpstream("bad_chunk")
                size -= len(data)
                yield data
            await reader.readuntil(b"\n")
    remaining = -1 if length is None else length
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


async def _sniff(
    body: AsyncIterator[bytes], interval: int, touch: Touch
) -> tuple[bytes, bytes, list[int], bool]:
    """Reads until the start of what ffmpeg will parse (after ICY blocks and ID3 tags) is
    known: (raw bytes, ffmpeg's view of them, possible data starts, body ended)."""
    raw = b""
    async for data in body:
        touch()
        raw += data
        view = without_icy(raw, interval)
        starts = data_starts(view, complete=False)
        if starts is not None and len(view) >= max(starts) + SNIFF_BYTES:
            return raw, view, starts, False
        if len(raw) > MANIFEST_LIMIT:
            raise BadUpstream("unreadable_start", unsent=True)
    view = without_icy(raw, interval)
    return raw, view, data_starts(view, complete=True) or [0], True


def _framing(head: ResponseHead) -> tuple[bool, int | None]:
    """(chunked, length): one plain Content-Length is kept, anything else reads to EOF."""
    chunked = any("chunked" in v.lower() for v in head.values(b"transfer-encoding"))
    lengths = head.values(b"content-length")
    if chunked or len(lengths) != 1 or not lengths[0].isdigit():
        return chunked, None
    return False, int(lengths[0])


async def _send(
    client: asyncio.StreamWriter, status: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    client.write(_serialize(status, headers) + body)
    await client.drain()


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
    head = await read_head(reader)
    touch()
    headers = head.without(*_OWN_HEADERS)
    location = head.get(b"location")
    if location:
        mapped = rewrite_location(location, from_tls=upstream.tls).encode("latin-1")
        headers = [(k, mapped if k.lower() == b"location" else v) for k, v in headers]
    if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        await _send(client, head.status_line, headers, b"")
        return
    encodings = [v.strip().lower() for v in head.values(b"content-encoding")]
    compressed = any(e not in ("", "identity") for e in encodings)
    if compressed and not asked_encoding:
        # ffmpeg would inflate it on its own: a playlist inside would pass unseen
        raise BadUpstream("unrequested_encoding", unsent=True)
    chunked, length = _framing(head)
    interval = icy_interval(head)
    body = _body(reader, chunked=chunked, length=length)
    raw, view, starts, ended = await _sniff(body, interval, touch)
    status = b"HTTP/1.1 200 OK" if head.status == 206 else head.status_line
    if not compressed and any(is_hls(view[s : s + SNIFF_BYTES]) for s in starts):
        if starts != [0]:
            raise BadUpstream("playlist_behind_id3", unsent=True)
        raw = raw if ended else await _read(body, raw, MANIFEST_LIMIT, touch)
        if len(raw) > MANIFEST_LIMIT:
            raise BadUpstream("playlist_too_large", unsent=True)
        rewritten = rewrite_hls(without_icy(raw, interval), upstream.url)
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-range", b"accept-ranges")]
        await _send(client, status, [*kept, (b"Content-Length", b"%d" % len(rewritten))], rewritten)
        return
    content_type = head.get(b"content-type").split(";")[0].strip().lower()
    full = head.status == 200 or (
        head.status == 206
        and head.get(b"content-range").replace(" ", "").lower().startswith("bytes0-")
    )
    dash = full and not compressed and interval == 0 and starts == [0]
    if dash and is_dash(content_type, upstream.url, view[:SNIFF_BYTES]):
        raw = raw if ended else await _read(body, raw, MANIFEST_LIMIT, touch)
        if len(raw) <= MANIFEST_LIMIT:
            rewritten = rewrite_dash(raw)
            kept = [
                (k, v) for k, v in headers if k.lower() not in (b"content-range", b"accept-ranges")
            ]
            await _send(
                client, status, [*kept, (b"Content-Length", b"%d" % len(rewritten))], rewritten
            )
            return
    if length is not None:
        headers.append((b"Content-Length", b"%d" % length))
    if interval:
        headers.append((b"icy-metaint", b"%d" % interval))
    await _send(client, head.status_line, headers, raw)
    async for data in body:
        touch()
        client.write(data)
        await client.drain()
