"""How a media string reaches ffmpeg/ffprobe: never as an option, never through a protocol
we did not choose.

ffmpeg reads ``-i`` values as URLs: ``concat:``, ``subfile:``, ``pipe:``, ``file:`` and
friends would let a crafted string read local files or other hosts.  So every media string
is either an http(s) URL (network protocols only) or an absolute local path (``file`` only),
and ``-protocol_whitelist`` makes ffmpeg itself refuse anything else, including protocols a
playlist (m3u8) or a redirect tries to pull in.

Network inputs go through the egress proxy (``bot.sources.egress``) once the app has started
it, and then ffmpeg speaks only plain http, only to that proxy: ``-http_proxy`` sends every
http request it makes (redirect hops, playlist segments, keys, variants included) to the
proxy, which runs the source guard on it.  Its https, tls and httpproxy protocols are off:
a playlist could name them (``httpproxy://127.0.0.1:22/``) and ffmpeg would connect there
by itself.  An https URL is handed over in the proxy's mapped http form
(``bot.sources.egress_urls``) and the proxy makes the TLS connection.  ``tcp`` must stay
on, as http's transport to the proxy, so the demuxers are limited too
(``-format_whitelist``): HLS and DASH only open nested http URLs, the demuxers that would
open any URL (concat, IMF, SDP...) are not on the list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.sources.egress_urls import to_proxied

#: protocols ffmpeg may use for a network input behind the egress proxy: http (always sent
#: to the proxy), tcp only as its transport, crypto for AES-128 HLS segments
NETWORK_PROTOCOLS = "http,tcp,crypto"
#: without the proxy (tests of the parts, tools run outside the app) ffmpeg connects itself
DIRECT_PROTOCOLS = "http,https,tcp,tls,crypto"
#: demuxers a network input may use: audio and the common audio/video containers, HLS and
#: DASH (whose nested URLs must be http).  Not concat, imf, sdp, rtsp and other demuxers
#: that open URLs of any protocol a file names.
NETWORK_FORMATS = (
    "aac,ac3,aiff,amr,ape,asf,au,avi,caf,dash,dsf,dts,dtshd,eac3,flac,flv,gsm,hls,iff,"
    "libgme,libopenmpt,loas,matroska,mlp,mov,mp3,mpc,mpc8,mpeg,mpegts,nut,ogg,rm,shn,"
    "spdif,tak,truehd,tta,voc,w64,wav,webvtt,wsaud,wv,xwma"
)
#: protocols ffmpeg may use for a local file
FILE_PROTOCOLS = "file"


#: the egress proxy's URL once the app started it; None means direct connections (tests
#: of the parts, or tools run outside the app)
_http_proxy: str | None = None


def set_http_proxy(url: str | None) -> None:
    """Routes every later ffmpeg/ffprobe/yt-dlp network fetch through ``url``.

    ffmpeg skips its proxy for hosts listed in ``no_proxy``, so that variable is dropped
    from this process's environment (children, pytgcalls' ffmpeg included, inherit it).
    """
    global _http_proxy
    _http_proxy = url
    if url is not None:
        for name in ("no_proxy", "NO_PROXY"):
            os.environ.pop(name, None)


def http_proxy() -> str | None:
    return _http_proxy


class UnsafeMedia(ValueError):
    """The media string could be read by ffmpeg as an option or a foreign protocol."""


@dataclass(frozen=True, slots=True)
class FfmpegInput:
    target: str  # what follows -i (an https URL in the egress proxy's mapped form)
    protocols: str  # the value for -protocol_whitelist
    is_network: bool


def has_control_chars(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def ffmpeg_input(media: str) -> FfmpegInput:
    """Classifies ``media``; raises UnsafeMedia for anything but http(s) or an absolute path."""
    if not media or media.startswith("-") or has_control_chars(media):
        raise UnsafeMedia("media must not be empty, start with '-' or hold control characters")
    lowered = media.lower()
    if lowered.startswith(("http://", "https://")):
        if not urlsplit(media).hostname:
            raise UnsafeMedia("URL without a host")
        if _http_proxy is None:
            return FfmpegInput(media, DIRECT_PROTOCOLS, True)
        return FfmpegInput(to_proxied(media), NETWORK_PROTOCOLS, True)
    if not os.path.isabs(media):
        # a relative string such as "concat:a|b" or "subfile:..." would name a protocol
        raise UnsafeMedia("media must be an http(s) URL or an absolute path")
    # An absolute path starts with "/", which no protocol name may contain, so ffmpeg
    # opens it with the file protocol.
    return FfmpegInput(os.path.normpath(media), FILE_PROTOCOLS, False)


def source_options(source: FfmpegInput) -> list[str]:
    """The input options every ffmpeg that opens ``source`` gets (pytgcalls' included)."""
    args = ["-protocol_whitelist", source.protocols]
    if source.is_network:
        args += ["-format_whitelist", NETWORK_FORMATS]
        if _http_proxy is not None:
            args += ["-http_proxy", _http_proxy]
    return args


def input_args(source: FfmpegInput, *, position: float = 0.0) -> list[str]:
    """The ffmpeg/ffprobe arguments that open ``source`` (options first, then -i)."""
    args = source_options(source)
    if source.is_network:
        # 15 s without data counts as a dead connection instead of hanging forever
        args += ["-rw_timeout", "15000000"]
    if position > 0:
        args += ["-ss", f"{position:.3f}"]
    return [*args, "-i", source.target]


def tail_message(stderr: bytes, media: str, *, limit: int = 160) -> str:
    """The last meaningful stderr line, with the media string (a local path) left out
    (``media`` empty: nothing to leave out)."""
    text = stderr.decode("utf-8", "replace")
    if media:
        text = text.replace(media, "<media>")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "ffmpeg failed"
    last = lines[-1]
    home = os.path.expanduser("~")
    if home and home != "/":
        last = last.replace(home, "~")
    return last[:limit]
