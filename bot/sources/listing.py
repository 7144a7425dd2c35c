"""Playlist links as lazy tracks, and how long a site's stream URL stays good.

A flat yt-dlp listing (``extract_flat="in_playlist"``) gives each entry's title, duration
and page URL without looking up any stream, so a 50-entry playlist is listed in one or two
requests.  Each entry becomes a Track whose ``media`` is empty and whose ``source`` is what
to resolve when it is about to play (``SourceResolver.fresh``): the entry's own page, or
for a generic page's embedded media (yt-dlp's HTML5 entries share the page's URL) the
media URL itself.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.domain.models import MediaKind, SourceKind, Track
from bot.sources.base import Playlist, SourceError, SourceRequest
from bot.sources.guard import split_url

#: query parameters that carry a signed URL's expiry as Unix seconds (googlevideo: expire)
EXPIRY_PARAMETERS = ("expire", "expires", "Expires")


def stream_expiry(media: str, *, now: float, ttl: float) -> float:
    """When ``media`` (a stream URL a site handed out) stops working: its own ``expire=``
    when it carries one in the future, else ``ttl`` seconds from ``now``."""
    query = parse_qs(urlsplit(media).query)
    for name in EXPIRY_PARAMETERS:
        for value in query.get(name, []):
            try:
                at = float(value)
            except ValueError:
                continue
            if math.isfinite(at) and at > now:
                return at
    return now + ttl


def _entry_source(entry: dict[str, Any], page: str | None) -> str | None:
    """The URL to resolve the entry from later, or None when it has no usable one."""
    own_page = entry.get("webpage_url")
    if entry.get("_type") in ("url", "url_transparent") or own_page in (None, page):
        candidate = entry.get("url") or own_page
    else:
        candidate = own_page
    if not isinstance(candidate, str):
        return None
    try:
        split_url(candidate)  # plain http(s) only; the guard runs again when it is resolved
    except SourceError:
        return None
    return candidate


def _thumbnail(entry: dict[str, Any]) -> str | None:
    thumbnail = entry.get("thumbnail")
    if isinstance(thumbnail, str):
        return thumbnail
    listed = [t.get("url") for t in entry.get("thumbnails") or [] if isinstance(t, dict)]
    urls = [u for u in listed if isinstance(u, str)]
    return urls[-1] if urls else None


def listing_to_playlist(
    info: dict[str, Any],
    *,
    query: str,
    limit: int,
    max_seconds: int,
    request: SourceRequest,
) -> Playlist:
    """A flat listing (asked for ``limit + 1`` entries) as a Playlist of at most ``limit``
    lazy tracks; raises SourceError("not_found") when no entry is usable."""
    entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
    page = info.get("webpage_url") or info.get("original_url") or query
    tracks: list[Track] = []
    skipped = 0
    # /vplay: each entry is asked for as video in the chat's quality; whether it has a
    # picture is known only once it is resolved (``SourceResolver.fresh``)
    kind = MediaKind.AUDIO if request.video_quality is None else MediaKind.VIDEO
    for entry in entries[:limit]:
        source = _entry_source(entry, page)
        raw = entry.get("duration")
        duration = float(raw) if isinstance(raw, int | float) and raw > 0 else None
        live = bool(entry.get("is_live")) or entry.get("live_status") == "is_live"
        if source is None or (duration is not None and duration > max_seconds):
            skipped += 1
            continue
        title = entry.get("title") or entry.get("fulltitle") or source
        tracks.append(
            Track(
                title=str(title),
                source=source,
                media="",
                kind=SourceKind.YTDLP,
                duration=None if live else duration,
                requested_by=request.requested_by,
                requested_by_name=request.requested_by_name,
                thumbnail=_thumbnail(entry),
                is_live=live,
                media_kind=kind,
                quality=request.video_quality,
            )
        )
    if not tracks:
        raise SourceError("not_found", "no playable entry in the playlist")
    title = info.get("title") or info.get("playlist_title") or urlsplit(str(page)).hostname
    return Playlist(
        title=str(title or page),
        source=str(page),
        tracks=tuple(tracks),
        skipped=skipped,
        more=len(entries) > limit,
    )
