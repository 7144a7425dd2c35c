"""What ffmpeg will make of an origin's response, computed by the egress proxy before ffmpeg
gets it, so that the proxy checks the same bytes ffmpeg parses.

ffmpeg's http client and demuxers transform a body on its way to the HLS parser: they read
header lines ending in a bare LF, drop ICY metadata blocks every ``icy-metaint`` bytes,
inflate gzip, and skip ID3v2 tags before a top-level input.  A playlist hidden behind any
of these would not start with ``#EXTM3U`` on the wire.  So the proxy parses the head the
way ffmpeg 5.1's ``http.c`` does and hands ffmpeg a canonical head (one value per framing
header, plain tokens, CRLF), removes ICY blocks the same way for its look at the body, and
refuses what it cannot see through (a compressed body ffmpeg did not ask for, a playlist
behind ID3 tags).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

#: bytes of a response head
HEAD_LIMIT = 64 * 1024
#: ffmpeg keeps this much of a header line and drops the rest; longer lines are dropped here
LINE_LIMIT = 4000
ID3_HEADER = 10
#: ID3v2 tags in a row that are followed before giving up
ID3_CHAIN = 8
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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
    headers: list[tuple[bytes, bytes]]  # plain token names, values without CR/LF/NUL

    def values(self, name: bytes) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == name]

    def get(self, name: bytes) -> str:
        found = self.values(name)
        return found[0] if found else ""

    def without(self, *names: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self.headers if k.lower() not in names]


async def read_head(reader: asyncio.StreamReader) -> ResponseHead:
    """Lines end at LF (one CR before it dropped) and the head at the first empty line, as in
    ffmpeg's http_get_line; header lines it would read differently are dropped."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise BadUpstream("no_response_head", unsent=True) from None
        size += len(line)
        if size > HEAD_LIMIT:
            raise BadUpstream("response_head_too_large", unsent=True)
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            break
        lines.append(line)
    if not lines or b"\x00" in lines[0] or len(lines[0]) > LINE_LIMIT:
        raise BadUpstream("no_status", unsent=True)
    fields = lines[0].split(None, 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise BadUpstream("no_status", unsent=True)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name) or b"\x00" in value or len(line) > LINE_LIMIT:
            continue  # ffmpeg would skip, cut or misread it: it does not get it at all
        headers.append((name, value.strip(b" \t\r\n\x0b\x0c")))
    return ResponseHead(lines[0], int(fields[1]), headers)


def icy_interval(head: ResponseHead) -> int:
    """The ICY metadata interval ffmpeg will apply: the last plain number, else none."""
    found = head.values(b"icy-metaint")
    value = found[-1] if found else ""
    return int(value) if value.isdigit() and int(value) > 0 else 0


def without_icy(raw: bytes, interval: int) -> bytes:
    """The body with ICY metadata blocks removed, as ffmpeg's store_icy reads it (a prefix
    of the body gives a prefix of the result)."""
    if interval <= 0:
        return raw
    out = bytearray()
    pos = 0
    while pos < len(raw):
        out += raw[pos : pos + interval]
        pos += interval
        if pos >= len(raw):
            break
        pos += 1 + raw[pos] * 16
    return bytes(out)


def _id3_match(header: bytes) -> bool:
    """ffmpeg's ff_id3v2_match for ID3v2_DEFAULT_MAGIC."""
    return (
        header[:3] == b"ID3"
        and header[3] != 0xFF
        and header[4] != 0xFF
        and all(b & 0x80 == 0 for b in header[6:10])
    )


def data_starts(view: bytes, *, complete: bool) -> list[int] | None:
    """Where the data after leading ID3v2 tags may start (with and without a flagged
    footer's length: ffmpeg's two ID3 readers disagree on it); None: more bytes needed.
    Raises BadUpstream for more tags in a row than honest media has."""
    starts: set[int] = set()
    frontier = [(0, 0)]
    while frontier:
        offset, depth = frontier.pop()
        header = view[offset : offset + ID3_HEADER]
        if len(header) < ID3_HEADER:
            if not complete:
                return None
            starts.add(offset)
            continue
        if not _id3_match(header):
            starts.add(offset)
            continue
        if depth >= ID3_CHAIN:
            raise BadUpstream("id3_chain", unsent=True)
        size = ID3_HEADER + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(header[6:10]))
        frontier.append((offset + size, depth + 1))
        if header[5] & 0x10:
            frontier.append((offset + size + ID3_HEADER, depth + 1))
    return sorted(starts)
