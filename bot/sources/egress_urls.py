"""How an https address looks to ffmpeg: a plain http URL on a reserved host name that only
the egress proxy understands.

ffmpeg speaks nothing but plain http, and only to the egress proxy (see ``bot.ffmpeg``): its
https, tls and httpproxy protocols are off, because a playlist could name them to make
ffmpeg connect somewhere by itself.  An https upstream is therefore reached by the proxy,
which opens (and verifies) the TLS connection.  ffmpeg asks for it as

    https://cdn.example:8443/a/b.m3u8  ->  http://cdn.example.https.egress.invalid:8443/a/b.m3u8

The upstream stays in the host name, so every relative reference (``b.ts``, ``/abs/c.ts``)
resolves to the same TLS upstream.  Absolute https URLs in redirects and DASH manifests are
rewritten into this form by the proxy; one it misses only fails to play, since ffmpeg
refuses https itself.  ``.invalid`` never resolves (RFC 2606), and ffmpeg never resolves
names anyway: it hands every URL to the proxy.

HLS playlists need more than that.  ffmpeg's HLS demuxer checks that segments, keys and
init sections are http, but opens variant and rendition playlists with any protocol on the
whitelist, and ``tcp`` must be on it (it carries http to the proxy): a variant named
``tcp://10.0.0.1:6379/x.m3u8`` would be a direct connection.  So the proxy rebuilds every
playlist it relays (every body that starts with ``#EXTM3U``, whatever its content type):
each URI line and each ``URI=`` attribute becomes an absolute http URL (mapped for https)
or, when it names any other protocol, ``REFUSED_URL``.  Lines and attributes are split the
way ffmpeg 5.1's ``hls.c`` splits them, so what ffmpeg reads is what was checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

#: the reserved suffix marking "this host is reached over TLS"
TLS_SUFFIX = ".https.egress.invalid"
#: prefix of a host label that carries an IPv6 literal ("2001:db8::1" -> "v6-2001-db8--1")
_V6 = "v6-"
#: bytes of a manifest the proxy rewrites; a larger HLS playlist is refused, a larger DASH
#: manifest relayed unchanged
MANIFEST_LIMIT = 8 * 1024 * 1024
#: what a playlist URI naming a protocol other than http(s) becomes; the proxy refuses it
REFUSED_HOST = "refused.egress.invalid"
REFUSED_URL = f"http://{REFUSED_HOST}/refused"
_TOKEN = re.compile(r"[A-Z0-9-]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")
#: the HLS tags whose attributes ffmpeg reads a URI from
_URI_TAGS = ("#EXT-X-KEY:", "#EXT-X-MAP:", "#EXT-X-MEDIA:")
#: what ends a line for ffmpeg's ff_get_line: LF, CR (CRLF counts once) and NUL
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x00]")

#: an absolute https URL's scheme and authority, wherever it stands in a manifest
_HTTPS_AUTHORITY = re.compile(rb"(?i)https://([^/?#\s\"'<>]+)")


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where a request the proxy received really goes."""

    url: str  # the real URL (https for a mapped host), what the guard checks
    host: str  # host name or address as the origin expects it (no brackets)
    port: int
    tls: bool

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return shown if self.port == default else f"{shown}:{self.port}"


def _mapped_host(host: str) -> str:
    if ":" in host:  # an IPv6 literal: brackets cannot carry a suffix
        host = _V6 + host.replace(":", "-")
    return host + TLS_SUFFIX


def _authority(userinfo: str | None, host: str, port: int) -> str:
    user = f"{userinfo}@" if userinfo else ""
    return f"{user}{host}:{port}"


def to_proxied(url: str) -> str:
    """``url`` as ffmpeg must ask for it: https becomes the mapped http form, http stays."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        return url
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    netloc = _authority(userinfo, _mapped_host(parts.hostname), parts.port or 443)
    return urlunsplit(("http", netloc, parts.path, parts.query, parts.fragment))


def _real_host(mapped: str) -> str:
    host = mapped[: -len(TLS_SUFFIX)]
    if host.startswith(_V6):
        return host[len(_V6) :].replace("-", ":")
    return host


def upstream_of(target: str) -> Upstream:
    """The real destination of an absolute http request target (the mapped form included).

    Raises ValueError for a target that is not http://host[:port]/...
    """
    parts = urlsplit(target)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError("not an absolute http URL")
    host = parts.hostname
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if host.endswith(TLS_SUFFIX) and len(host) > len(TLS_SUFFIX):
        real = _real_host(host)
        port = parts.port or 443
        shown = f"[{real}]" if ":" in real else real
        return Upstream(f"https://{shown}:{port}{path}", real, port, True)
    port = parts.port or 80
    shown = f"[{host}]" if ":" in host else host
    return Upstream(f"http://{shown}:{port}{path}", host, port, False)


def _map_authority(authority: bytes) -> bytes:
    """``user@host:port`` of an https URL -> the mapped http authority (unchanged if odd)."""
    try:
        parts = urlsplit("https://" + authority.decode("ascii"))
        port = parts.port or 443
    except (UnicodeDecodeError, ValueError):
        return b"https://" + authority
    if not parts.hostname:
        return b"https://" + authority
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    return ("http://" + _authority(userinfo, _mapped_host(parts.hostname), port)).encode()


def rewrite_location(location: str, *, from_tls: bool) -> str:
    """A redirect's target as ffmpeg must follow it (https and, from TLS, ``//host``)."""
    if location.lower().startswith("https://"):
        return to_proxied(location)
    if from_tls and location.startswith("//"):
        return to_proxied("https:" + location)
    return location


def rewrite_dash(body: bytes) -> bytes:
    """Every absolute https URL in a DASH manifest -> the mapped form (relative references
    resolve against the mapped manifest URL; ffmpeg's DASH demuxer opens only http)."""
    return _HTTPS_AUTHORITY.sub(lambda m: _map_authority(m.group(1)), body)


def is_hls(start: bytes) -> bool:
    """A body ffmpeg may read as an HLS playlist (a BOM or blank start tolerated)."""
    return start.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U")


def _refused(uri: str) -> str:
    """REFUSED_URL, keeping the name's extension: ffmpeg 5.1 (Debian) rejects a whole
    playlist over one segment without an allowed extension, the rest may still play."""
    match = _EXTENSION.search(uri.split("?", 1)[0].split("#", 1)[0])
    return REFUSED_URL + (match.group(0) if match else "")


def _absolute(uri: str, base: str) -> str:
    """``uri`` resolved against the real (https or http) playlist URL, as ffmpeg must ask
    for it; anything but http(s) becomes REFUSED_URL."""
    try:
        resolved = urljoin(base, uri)
        parts = urlsplit(resolved)
        parts.port  # noqa: B018  (raises for a malformed port)
    except ValueError:
        return _refused(uri)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return _refused(uri)
    return to_proxied(resolved)


def _key_values(text: str) -> list[tuple[str, str]]:
    """Attribute pairs exactly as ffmpeg's ff_parse_key_value reads them (quotes with
    backslash escapes, or bare values ending at a comma or whitespace)."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and (text[i].isspace() or text[i] == ","):
            i += 1
        if i >= n:
            return pairs
        eq = text.find("=", i)
        if eq < 0:
            return pairs
        key = text[i:eq]
        i = eq + 1
        value: list[str] = []
        if i < n and text[i] == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    if i + 1 >= n:
                        break
                    value.append(text[i + 1])
                    i += 2
                else:
                    value.append(text[i])
                    i += 1
            if i < n and text[i] == '"':
                i += 1
        else:
            while i < n and not (text[i].isspace() or text[i] == ","):
                value.append(text[i])
                i += 1
        pairs.append((key, "".join(value)))


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rewrite_hls(body: bytes, base: str) -> bytes:
    """The playlist rebuilt so that every URI ffmpeg can read from it is an absolute http URL
    (mapped for https) or REFUSED_URL.  ``base`` is the playlist's real URL."""
    text = body.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    out: list[str] = []
    for line in _LINE_BREAK.split(text):
        line = line.rstrip()
        if not line:
            continue
        if line.startswith(_URI_TAGS):
            tag, _, attributes = line.partition(":")
            # odd keys ("URI ", 'a",URI') mean nothing to ffmpeg either: dropped
            pairs = [
                (key, _absolute(value, base) if key == "URI" else value)
                for key, value in _key_values(attributes)
                if _TOKEN.fullmatch(key)
            ]
            line = tag + ":" + ",".join(f"{key}={_quoted(value)}" for key, value in pairs)
        elif not line.startswith("#"):
            line = _absolute(line, base)
        out.append(line)
    return ("\n".join(out) + "\n").encode("latin-1")


def is_dash(content_type: str, path: str, start: bytes) -> bool:
    """A DASH manifest by content type, the path's suffix or its first bytes."""
    if content_type.startswith(("application/dash+xml", "video/vnd.mpeg.dash.mpd")):
        return True
    return urlsplit(path).path.lower().endswith(".mpd") or b"<MPD" in start
