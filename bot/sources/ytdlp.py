"""Search words and site pages (YouTube, SoundCloud, ...) through yt-dlp, used as a library.

yt-dlp only finds the stream: it runs in a worker thread with ``download=False`` and the
chosen audio format's URL becomes the track's media, which ffmpeg streams like any other
URL (after the guard has checked it too).  yt-dlp is optional: when it is disabled or not
installed, these requests get "unavailable" and everything else keeps working.

For /vplay the picture is chosen here from the formats yt-dlp lists (not with a format
string, whose filters cannot say "inside the box whichever way the video is turned"): the
largest h264/vp9 format inside the chat's quality box, oriented like that format, plus the
best m4a/opus sound when the picture comes without one.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.domain.models import MediaKind, SourceKind, Track
from bot.domain.video import BOXES, DEFAULT_QUALITY
from bot.ffmpeg import http_proxy
from bot.metrics import YTDLP_BOT_CHECKS
from bot.sources.base import SourceError
from bot.sources.cookies import CookieJars
from bot.sources.guard import split_url

#: seconds yt-dlp waits on one socket operation; the whole lookup is bounded separately
SOCKET_TIMEOUT = 10.0

_NETWORK_HINTS = (
    "unable to download",
    "name resolution",
    "name or service not known",
    "timed out",
    "connection refused",
    "network is unreachable",
    "urlopen error",
    "failed to resolve",
    "http error 5",
)


#: merged over the defaults; a seam for a proxy or for tests that must stay offline
OPTION_OVERRIDES: dict[str, Any] = {}


#: yt-dlp's warning when YouTube rotated (invalidated) the account cookies it was given
COOKIES_REJECTED = "cookies are no longer valid"


class _QuietLogger:
    """yt-dlp prints to stdout/stderr unless given a logger; the bot logs its own outcome.
    It keeps one fact from the warnings: YouTube refused the cookies it was given."""

    def __init__(self) -> None:
        self.cookies_rejected = False

    def debug(self, msg: str) -> None:
        return None

    def info(self, msg: str) -> None:
        return None

    def warning(self, msg: str) -> None:
        if COOKIES_REJECTED in msg.lower():
            self.cookies_rejected = True

    def error(self, msg: str) -> None:
        return None


def _module() -> Any:
    try:
        return importlib.import_module("yt_dlp")
    except ImportError:
        raise SourceError("unavailable", "yt-dlp is not installed") from None


@functools.cache
def _site_extractors() -> tuple[Any, ...]:
    extractor = importlib.import_module("yt_dlp.extractor")
    return tuple(c for c in extractor.gen_extractor_classes() if c.ie_key() != "Generic")


def has_site_extractor(url: str) -> bool:
    """True when yt-dlp knows this site (so the URL is a page, not a media file)."""
    try:
        return any(c.suitable(url) for c in _site_extractors())
    except ImportError:
        return False


def _options(logger: _QuietLogger | None = None, listing: int | None = None) -> dict[str, Any]:
    """yt-dlp's options; ``listing``: a playlist page is listed flat (title, duration and
    page URL of its first ``listing`` entries, no stream lookups), a single page as usual."""
    # yt-dlp fetches pages and APIs itself: through the egress proxy, each is guarded
    proxy = {"proxy": url} if (url := http_proxy()) is not None else {}
    return {
        "quiet": True,
        "no_warnings": True,  # a given logger still gets them (it keeps the cookie verdict)
        "noprogress": True,
        "logger": _QuietLogger() if logger is None else logger,
        "skip_download": True,
        "noplaylist": True,
        "format": "bestaudio/best",
        "socket_timeout": SOCKET_TIMEOUT,
        "extract_flat": False,
        "cachedir": False,
        "playlist_items": "1" if listing is None else f"1:{listing}",
        **({} if listing is None else {"extract_flat": "in_playlist"}),
        **proxy,
        **OPTION_OVERRIDES,
    }


def is_bot_check(message: str) -> bool:
    """YouTube's "Sign in to confirm you're not a bot" (any apostrophe), as yt-dlp passes
    it on from the player response's playability reason."""
    text = message.lower()
    return "sign in to confirm" in text and "not a bot" in text


def _map_error(message: str) -> SourceError:
    text = message.lower()
    if is_bot_check(message):
        return SourceError("bot_check", "YouTube asks to confirm this is not a bot")
    if "unsupported url" in text:
        return SourceError("unsupported", "no extractor for this URL")
    if any(hint in text for hint in _NETWORK_HINTS):
        return SourceError("unreachable", "yt-dlp could not reach the site")
    return SourceError("unavailable", "yt-dlp refused")


def _load_cookies(ydl: Any, jars: CookieJars, path: Path) -> bool:
    """The file's cookies into this run's jar (yt-dlp is never given the file name, so it
    never writes back over it); an unreadable file is set aside."""
    try:
        ydl.cookiejar.load(str(path))
    except (OSError, ValueError, UnicodeError) as exc:
        jars.reject(path, f"cannot be loaded ({exc.__class__.__name__})")
        return False
    return True


def _extract(
    target: str, cookies: CookieJars | None = None, listing: int | None = None
) -> dict[str, Any]:
    module = _module()
    logger = _QuietLogger()
    chosen = cookies.choose() if cookies is not None else None
    try:
        with module.YoutubeDL(_options(logger, listing)) as ydl:
            if (
                chosen is not None
                and cookies is not None
                and not _load_cookies(ydl, cookies, chosen)
            ):
                chosen = None
            info = ydl.extract_info(target, download=False)
    except module.utils.YoutubeDLError as exc:  # DownloadError included
        error = _map_error(str(exc))
        if error.code == "bot_check":
            YTDLP_BOT_CHECKS.labels(cookies="none" if chosen is None else "file").inc()
            if chosen is not None and cookies is not None:
                cookies.bot_check(chosen)
        raise error from None
    finally:
        if logger.cookies_rejected and chosen is not None and cookies is not None:
            cookies.reject(chosen, "YouTube says its account cookies are no longer valid")
    if chosen is not None and cookies is not None:
        cookies.succeeded(chosen)
    if not isinstance(info, dict):
        raise SourceError("not_found", "no result")
    return info


def _pick_entry(info: dict[str, Any]) -> dict[str, Any]:
    if is_listing(info):
        entries = [e for e in (info.get("entries") or []) if isinstance(e, dict)]
        if not entries:
            raise SourceError("not_found", "no search result")
        return entries[0]
    return info


def _audio_url(entry: dict[str, Any]) -> str:
    requested = entry.get("requested_formats")
    if isinstance(requested, list):
        for fmt in requested:
            if fmt.get("acodec") not in (None, "none") and fmt.get("url"):
                return str(fmt["url"])
    if entry.get("url"):
        return str(entry["url"])
    formats = [f for f in entry.get("formats") or [] if f.get("url")]
    audio = [f for f in formats if f.get("acodec") not in (None, "none")]
    if not audio:
        raise SourceError("not_audio", "no audio format")
    only_audio = [f for f in audio if f.get("vcodec") in (None, "none")] or audio
    best = max(only_audio, key=lambda f: float(f.get("abr") or f.get("tbr") or 0))
    return str(best["url"])


#: video codecs every engine decodes cheaply (ffmpeg decodes anything, but av1 costs a core)
VIDEO_CODECS = ("avc1", "h264", "vp9", "vp09")
AUDIO_CODECS = ("mp4a", "opus", "aac")
_STREAM_PROTOCOLS = ("https", "http", "m3u8", "m3u8_native")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _fits(fmt: dict[str, Any], quality: str) -> bool:
    long_side, short_side = BOXES.get(quality, BOXES[DEFAULT_QUALITY])
    width, height = _number(fmt.get("width")), _number(fmt.get("height"))
    if width >= height:
        return width <= long_side and height <= short_side
    return width <= short_side and height <= long_side


def _has(fmt: dict[str, Any], key: str, prefixes: tuple[str, ...]) -> bool:
    return str(fmt.get(key) or "none").lower().startswith(prefixes)


@dataclass(frozen=True, slots=True)
class VideoChoice:
    video: dict[str, Any]
    audio: dict[str, Any] | None  # None: the video format carries its own sound


def pick_video(entry: dict[str, Any], quality: str) -> VideoChoice | None:
    """The best picture inside ``quality``'s box (and its sound); None: no usable video."""
    formats = [
        f
        for f in entry.get("formats") or []
        if f.get("url") and str(f.get("protocol") or "https") in _STREAM_PROTOCOLS
    ]
    videos = [
        f
        for f in formats
        if _has(f, "vcodec", VIDEO_CODECS)
        and f.get("width")
        and f.get("height")
        and _fits(f, quality)
    ]
    if not videos:
        return None

    def size(f: dict[str, Any]) -> tuple[float, float, float]:
        muxed = 1.0 if _has(f, "acodec", AUDIO_CODECS) else 0.0
        return (_number(f.get("width")) * _number(f.get("height")), muxed, _number(f.get("tbr")))

    video = max(videos, key=size)
    if _has(video, "acodec", AUDIO_CODECS):
        return VideoChoice(video, None)
    sounds = [
        f for f in formats if _has(f, "acodec", AUDIO_CODECS) and str(f.get("vcodec")) == "none"
    ]
    audio = max(sounds, key=lambda f: _number(f.get("abr") or f.get("tbr")), default=None)
    return VideoChoice(video, audio)


def info_to_track(
    info: dict[str, Any],
    *,
    query: str,
    max_seconds: int,
    requested_by: int | None = None,
    requested_by_name: str = "",
    video_quality: str | None = None,
) -> Track:
    """yt-dlp's info dict (a search result or a page) as a Track; raises SourceError.

    ``video_quality``: /vplay; without a usable picture the track is audio."""
    entry = _pick_entry(info)
    choice = pick_video(entry, video_quality) if video_quality is not None else None
    media = str(choice.video["url"]) if choice is not None else _audio_url(entry)
    audio_media = (
        str(choice.audio["url"]) if choice is not None and choice.audio is not None else None
    )
    for url in (media, audio_media):
        if url is not None:
            split_url(url)  # a plain http(s) URL before ffmpeg sees it
    is_live = bool(entry.get("is_live")) or entry.get("live_status") == "is_live"
    duration_raw = entry.get("duration")
    duration = float(duration_raw) if isinstance(duration_raw, int | float) else None
    if is_live:
        duration = None
    if duration is not None and duration > max_seconds:
        raise SourceError("too_long", f"{duration:.0f} s > {max_seconds} s")
    source = entry.get("webpage_url") or entry.get("original_url") or query
    title = entry.get("title") or entry.get("fulltitle") or str(source)
    uploader = entry.get("artist") or entry.get("uploader")
    if entry.get("track") and entry.get("artist"):
        title = f"{entry['artist']} — {entry['track']}"
    elif uploader and entry.get("extractor_key") == "Soundcloud":
        title = f"{uploader} — {title}"
    thumbnail = entry.get("thumbnail")
    return Track(
        title=str(title),
        source=str(source),
        media=media,
        kind=SourceKind.YTDLP,
        duration=duration,
        requested_by=requested_by,
        requested_by_name=requested_by_name,
        thumbnail=str(thumbnail) if isinstance(thumbnail, str) else None,
        is_live=is_live,
        media_kind=MediaKind.AUDIO if choice is None else MediaKind.VIDEO,
        quality=None if choice is None else video_quality,
        width=None if choice is None else int(_number(choice.video.get("width"))),
        height=None if choice is None else int(_number(choice.video.get("height"))),
        fps=None if choice is None else (_number(choice.video.get("fps")) or None),
        has_audio=choice is None
        or choice.audio is not None
        or _has(choice.video, "acodec", AUDIO_CODECS),
        audio_media=audio_media,
    )


def is_listing(info: dict[str, Any]) -> bool:
    """A playlist / album / set (or a page of several media), not one item."""
    return info.get("_type") in ("playlist", "multi_video") or "entries" in info


async def lookup(
    target: str,
    *,
    timeout: float,
    cookies: CookieJars | None = None,
    listing: int | None = None,
) -> dict[str, Any]:
    """extract_info in a worker thread, bounded by ``timeout`` seconds; ``cookies``: the
    files of ``sources.ytdlp_cookies`` (one is chosen for this lookup); ``listing``: see
    ``_options``.

    A timed-out thread cannot be killed; it finishes on its own (bounded by the socket
    timeout) and its result is dropped.
    """
    _module()
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(_extract, target, cookies, listing)
    except TimeoutError:
        raise SourceError("timeout", "yt-dlp took too long") from None


def search_target(words: str) -> str:
    return f"ytsearch1:{words}"
