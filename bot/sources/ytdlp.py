"""Search words and site pages (YouTube, SoundCloud, ...) through yt-dlp, used as a library.

yt-dlp only finds the stream: it runs in a worker thread with ``download=False`` and the
chosen audio format's URL becomes the track's media, which ffmpeg streams like any other
URL (after the guard has checked it too).  yt-dlp is optional: when it is disabled or not
installed, these requests get "unavailable" and everything else keeps working.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from typing import Any

from bot.domain.models import SourceKind, Track
from bot.ffmpeg import http_proxy
from bot.sources.base import SourceError
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


class _QuietLogger:
    """yt-dlp prints to stdout/stderr unless given a logger; the bot logs its own outcome."""

    def debug(self, msg: str) -> None:
        return None

    def info(self, msg: str) -> None:
        return None

    def warning(self, msg: str) -> None:
        return None

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


def _options(listing: int | None = None) -> dict[str, Any]:
    """yt-dlp's options; ``listing``: a playlist page is listed flat (title, duration and
    page URL of its first ``listing`` entries, no stream lookups), a single page as usual."""
    # yt-dlp fetches pages and APIs itself: through the egress proxy, each is guarded
    proxy = {"proxy": url} if (url := http_proxy()) is not None else {}
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _QuietLogger(),
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


def _map_error(message: str) -> SourceError:
    text = message.lower()
    if "unsupported url" in text:
        return SourceError("unsupported", "no extractor for this URL")
    if any(hint in text for hint in _NETWORK_HINTS):
        return SourceError("unreachable", "yt-dlp could not reach the site")
    return SourceError("unavailable", "yt-dlp refused")


def _extract(target: str, listing: int | None = None) -> dict[str, Any]:
    module = _module()
    try:
        with module.YoutubeDL(_options(listing)) as ydl:
            info = ydl.extract_info(target, download=False)
    except module.utils.DownloadError as exc:
        raise _map_error(str(exc)) from None
    except module.utils.YoutubeDLError as exc:
        raise _map_error(str(exc)) from None
    if not isinstance(info, dict):
        raise SourceError("not_found", "no result")
    return info


def _pick_entry(info: dict[str, Any]) -> dict[str, Any]:
    if info.get("_type") in ("playlist", "multi_video") or "entries" in info:
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


def info_to_track(
    info: dict[str, Any],
    *,
    query: str,
    max_seconds: int,
    requested_by: int | None = None,
    requested_by_name: str = "",
) -> Track:
    """yt-dlp's info dict (a search result or a page) as a Track; raises SourceError."""
    entry = _pick_entry(info)
    media = _audio_url(entry)
    split_url(media)  # the media must be a plain http(s) URL before ffmpeg sees it
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
    )


def is_listing(info: dict[str, Any]) -> bool:
    """A playlist / album / set (or a page of several media), not one item."""
    return info.get("_type") in ("playlist", "multi_video") or "entries" in info


async def lookup(target: str, *, timeout: float, listing: int | None = None) -> dict[str, Any]:
    """extract_info in a worker thread, bounded by ``timeout`` seconds; ``listing``: see
    ``_options``.

    A timed-out thread cannot be killed; it finishes on its own (bounded by the socket
    timeout) and its result is dropped.
    """
    _module()
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(_extract, target, listing)
    except TimeoutError:
        raise SourceError("timeout", "yt-dlp took too long") from None


def search_target(words: str) -> str:
    return f"ytsearch1:{words}"
