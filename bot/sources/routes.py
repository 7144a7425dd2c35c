"""What each route does once the resolver has chosen it, kept apart from the choosing: a
/play request, a queued entry resolved when it is due and a 24/7 folder all end here, while
``bot.sources.resolver`` decides the route and bounds, times and counts it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bot.config import SourcesConfig
from bot.domain.models import SourceKind, Track
from bot.sources import http, ytdlp
from bot.sources.base import Playlist, Progress, SourceError, SourceRequest
from bot.sources.cookies import CookieJars
from bot.sources.guard import check_url, split_url
from bot.sources.library import LIBRARY_PREFIX, LibraryEntry
from bot.sources.listing import listing_to_playlist, stream_expiry
from bot.sources.probe import probe, with_media
from bot.sources.progress import report


def title_from_url(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(PurePosixPath(parts.path).name)
    return PurePosixPath(name).stem or name or parts.hostname or url


class Routes:
    def __init__(
        self,
        sources: SourcesConfig,
        *,
        max_track_seconds: int,
        cookies: CookieJars,
        playlist_limit: int = 50,
    ) -> None:
        self._cfg = sources
        self._max_seconds = max_track_seconds
        self.cookies = cookies
        self.playlist_limit = playlist_limit

    async def url(
        self,
        url: str,
        request: SourceRequest,
        progress: Progress | None,
        *,
        listing: bool = True,
    ) -> Track | Playlist:
        """``listing``: a playlist page is listed (else it must be one item: a refresh)."""
        split_url(url)
        allow = self._cfg.allow_private_networks
        # the first call loads yt-dlp's ~1800 extractors: not on the event loop
        if self._cfg.ytdlp_enabled and await asyncio.to_thread(ytdlp.has_site_extractor, url):
            await check_url(url, allow_private=allow)
            return await self.ytdlp(url, url, request, progress, listing=listing)
        timeout = self._cfg.probe_timeout_seconds
        final = await http.follow(url, allow_private=allow, timeout=timeout)
        if final.is_html:
            if not self._cfg.ytdlp_enabled:
                raise SourceError("unsupported", "a web page, not media")
            return await self.ytdlp(final.url, url, request, progress, listing=listing)
        await report(progress, "probe", None)
        result = await probe(
            final.url,
            timeout=timeout,
            max_seconds=self._max_seconds,
            want_video=request.video_quality is not None,
        )
        # a radio's station name says more than the tags of whatever song it sent first
        station = final.icy_name if result.is_live else None
        title = station or result.display_title() or final.icy_name or title_from_url(final.url)
        track = Track(
            title=title,
            source=url,
            media=final.url,
            kind=SourceKind.URL,
            duration=result.duration,
            requested_by=request.requested_by,
            requested_by_name=request.requested_by_name,
            is_live=result.is_live,
        )
        return with_media(track, result, request.video_quality)

    async def ytdlp(
        self,
        target: str,
        query: str,
        request: SourceRequest,
        progress: Progress | None,
        *,
        listing: bool = False,
    ) -> Track | Playlist:
        """A search or a page through yt-dlp.  ``listing``: a playlist page is listed flat
        (one more entry than the limit, to tell whether it had more) as lazy tracks."""
        if not self._cfg.ytdlp_enabled:
            raise SourceError("unavailable", "yt-dlp is disabled")
        await report(progress, "list" if listing else "search", None)
        timeout = (4 if listing else 2) * self._cfg.probe_timeout_seconds
        limit = self.playlist_limit
        info = await ytdlp.lookup(
            target,
            timeout=timeout,
            cookies=self.cookies,
            listing=limit + 1 if listing else None,
        )
        if listing and ytdlp.is_listing(info):
            return listing_to_playlist(
                info, query=query, limit=limit, max_seconds=self._max_seconds, request=request
            )
        track = ytdlp.info_to_track(
            info,
            query=query,
            max_seconds=self._max_seconds,
            requested_by=request.requested_by,
            requested_by_name=request.requested_by_name,
            video_quality=request.video_quality,
        )
        # the stream URLs yt-dlp chose are what ffmpeg will open: they pass the same guard
        for url in (track.media, track.audio_media):
            if url is not None:
                await check_url(url, allow_private=self._cfg.allow_private_networks)
        return replace(track, expires_at=self._expiry(track))

    async def library_file(self, entry: LibraryEntry, request: SourceRequest) -> Track:
        result = await probe(
            str(entry.path),
            timeout=self._cfg.probe_timeout_seconds,
            max_seconds=self._max_seconds,
            want_video=request.video_quality is not None,
        )
        track = Track(
            title=result.display_title() or entry.path.stem,
            source=LIBRARY_PREFIX + entry.relative,
            media=str(entry.path),
            kind=SourceKind.LIBRARY,
            duration=result.duration,
            requested_by=request.requested_by,
            requested_by_name=request.requested_by_name,
            is_live=result.is_live,
        )
        return with_media(track, result, request.video_quality)

    def _expiry(self, track: Track) -> float:
        """When the first of the stream URLs yt-dlp handed out for ``track`` stops working
        (a video's picture and sound are two signed URLs)."""
        ttl = self._cfg.stream_url_ttl_seconds
        now = time.time()
        urls = [u for u in (track.media, track.audio_media) if u is not None]
        return min(stream_expiry(url, now=now, ttl=ttl) for url in urls)
