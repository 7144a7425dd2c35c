"""What /play accepts, decided in one place: a replied-to Telegram file, an http(s) URL, a
library file, or search words.

Every route ends with a checked, probed (or yt-dlp-described) Track, or a SourceError whose
code the bot turns into one short sentence.  Timing and refusals are recorded per route.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from aiogram import Bot

from bot.config import Settings, SourcesConfig
from bot.domain.models import SourceKind, Track
from bot.engines.base import MediaError
from bot.metrics import SOURCE_FAILURES, SOURCE_RESOLVE_SECONDS
from bot.sources import http, ytdlp
from bot.sources.base import Playlist, Progress, SourceError, SourceRequest
from bot.sources.cache import DownloadCache
from bot.sources.guard import check_url, split_url
from bot.sources.library import Library, LibraryEntry
from bot.sources.limits import ResolveGate
from bot.sources.listing import listing_to_playlist, stream_expiry
from bot.sources.probe import probe
from bot.sources.progress import report
from bot.sources.telegram_files import TelegramFiles

log = logging.getLogger(__name__)

LIBRARY_PREFIX = "lib:"
#: plain words play a library file only when it matches this well (else: a web search)
STRICT_LIBRARY_CUTOFF = 0.85
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
#: schemes and ffmpeg protocol names that mark a single word as a (refused) URL, not a search
KNOWN_SCHEMES = frozenset(
    """
    http https ftp ftps sftp file data gopher gophers concat concatf subfile pipe fd cache
    async crypto hls tcp tls udp udplite unix rtp rtsp rtmp rtmpe rtmps rtmpt rtmpte rtmpts
    srtp srt mmsh mmst httpproxy icecast ipfs ipns smb tee zmq dict ldap javascript mailto
    ws wss sctp bluray md5 prompeg gs android_content
    """.split()  # noqa: SIM905 - a word list reads better than 54 quoted strings
)


def looks_like_url(query: str) -> bool:
    if any(c.isspace() for c in query):
        return False
    match = _SCHEME.match(query)
    return match is not None and ("://" in query or match.group(1).lower() in KNOWN_SCHEMES)


def title_from_url(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(PurePosixPath(parts.path).name)
    return PurePosixPath(name).stem or name or parts.hostname or url


class SourceResolver:
    def __init__(
        self,
        sources: SourcesConfig,
        *,
        max_track_seconds: int,
        telegram: TelegramFiles | None = None,
        playlist_limit: int = 50,
    ) -> None:
        self._cfg = sources
        self._max_seconds = max_track_seconds
        self.playlist_limit = playlist_limit
        self._telegram = telegram
        self.library = Library(sources.library_dir)
        self.gate = ResolveGate(
            total=sources.max_concurrent_resolves,
            per_chat=sources.max_resolves_per_chat,
            wait_seconds=sources.resolve_wait_seconds,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, bot: Bot | None, cache: DownloadCache | None = None
    ) -> SourceResolver:
        """``cache``: the download folder's keeper; Telegram files need both it and ``bot``."""
        files = None
        if bot is not None and cache is not None:
            files = TelegramFiles(
                bot,
                cache=cache,
                max_download_mb=settings.sources.max_download_mb,
                probe_timeout=settings.sources.probe_timeout_seconds,
                max_track_seconds=settings.player.max_track_seconds,
            )
        return cls(
            settings.sources,
            max_track_seconds=settings.player.max_track_seconds,
            telegram=files,
            playlist_limit=settings.player.playlist_limit,
        )

    # -- Resolver --------------------------------------------------------------------------

    def route(self, request: SourceRequest) -> str:
        """The metric label and dispatch key for a request."""
        query = request.query.strip()
        if request.media is not None:
            return "telegram"
        if not query:
            return "empty"
        if query.lower().startswith(LIBRARY_PREFIX):
            return "library"
        if looks_like_url(query):
            return "url"
        return "search"

    async def resolve(
        self, request: SourceRequest, progress: Progress | None = None
    ) -> Track | Playlist:
        kind = self.route(request)
        started = time.monotonic()
        try:
            async with self.gate.slot(request.chat_id):
                return await self._dispatch(kind, request, progress)
        except SourceError as exc:
            SOURCE_FAILURES.labels(kind=kind, reason=exc.code).inc()
            raise
        finally:
            SOURCE_RESOLVE_SECONDS.labels(kind=kind).observe(time.monotonic() - started)

    async def _dispatch(
        self, kind: str, request: SourceRequest, progress: Progress | None
    ) -> Track | Playlist:
        query = request.query.strip()
        if kind == "telegram":
            assert request.media is not None
            if self._telegram is None:
                raise SourceError("unavailable", "Telegram files are not available here")
            return await self._telegram.resolve(
                request.media,
                requested_by=request.requested_by,
                requested_by_name=request.requested_by_name,
                progress=progress,
            )
        if kind == "empty":
            raise SourceError("empty")
        if kind == "library":
            entry = await asyncio.to_thread(self.library.find, query[len(LIBRARY_PREFIX) :])
            return await self._library_track(entry, request)
        if kind == "url":
            return await self._url(query, request, progress)
        if self.library.enabled:
            try:
                entry = await asyncio.to_thread(
                    self.library.find, query, cutoff=STRICT_LIBRARY_CUTOFF
                )
            except SourceError:
                pass
            else:
                return await self._library_track(entry, request)
        return await self._ytdlp(ytdlp.search_target(query), query, request, progress)

    # -- MediaResolver ---------------------------------------------------------------------

    async def fresh(self, chat_id: int, track: Track) -> Track:
        """A queued track's stream address, resolved when it is about to play (a playlist
        entry, or a site URL that expired): ``source`` goes the way a /play link goes, with
        its guards, limits and a fetch slot; a failure is a MediaError (the track is
        skipped with a line in the chat)."""
        started = time.monotonic()
        reason = "ok"
        try:
            async with self.gate.slot(None):
                found = await self._single(track.source)
        except SourceError as exc:
            reason = exc.code
            SOURCE_FAILURES.labels(kind="refresh", reason=exc.code).inc()
            raise MediaError(f"could not resolve {track.source}: {exc}") from exc
        finally:
            SOURCE_RESOLVE_SECONDS.labels(kind="refresh").observe(time.monotonic() - started)
            log_refresh(chat_id, track, reason)
        return replace(
            track,
            media=found.media,
            expires_at=found.expires_at,
            duration=found.duration if found.duration is not None else track.duration,
            is_live=found.is_live,
            thumbnail=track.thumbnail or found.thumbnail,
        )

    async def _single(self, source: str) -> Track:
        anonymous = SourceRequest(query=source)
        if source.lower().startswith(LIBRARY_PREFIX):
            entry = await asyncio.to_thread(self.library.find, source[len(LIBRARY_PREFIX) :])
            return await self._library_track(entry, anonymous)
        found = await self._url(source, anonymous, None, listing=False)
        assert isinstance(found, Track)  # not listed: one item
        return found

    # -- routes ----------------------------------------------------------------------------

    async def _url(
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
            return await self._ytdlp(url, url, request, progress, listing=listing)
        timeout = self._cfg.probe_timeout_seconds
        final = await http.follow(url, allow_private=allow, timeout=timeout)
        if final.is_html:
            if not self._cfg.ytdlp_enabled:
                raise SourceError("unsupported", "a web page, not media")
            return await self._ytdlp(final.url, url, request, progress, listing=listing)
        await report(progress, "probe", None)
        result = await probe(final.url, timeout=timeout, max_seconds=self._max_seconds)
        # a radio's station name says more than the tags of whatever song it sent first
        station = final.icy_name if result.is_live else None
        title = station or result.display_title() or final.icy_name or title_from_url(final.url)
        return Track(
            title=title,
            source=url,
            media=final.url,
            kind=SourceKind.URL,
            duration=result.duration,
            requested_by=request.requested_by,
            requested_by_name=request.requested_by_name,
            is_live=result.is_live,
        )

    async def _ytdlp(
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
        info = await ytdlp.lookup(target, timeout=timeout, listing=limit + 1 if listing else None)
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
        )
        # the stream URL yt-dlp chose is what ffmpeg will open: it passes the same guard
        await check_url(track.media, allow_private=self._cfg.allow_private_networks)
        ttl = self._cfg.stream_url_ttl_seconds
        return replace(track, expires_at=stream_expiry(track.media, now=time.time(), ttl=ttl))

    async def _library_track(self, entry: LibraryEntry, request: SourceRequest) -> Track:
        result = await probe(
            str(entry.path),
            timeout=self._cfg.probe_timeout_seconds,
            max_seconds=self._max_seconds,
        )
        return Track(
            title=result.display_title() or entry.path.stem,
            source=LIBRARY_PREFIX + entry.relative,
            media=str(entry.path),
            kind=SourceKind.LIBRARY,
            duration=result.duration,
            requested_by=request.requested_by,
            requested_by_name=request.requested_by_name,
            is_live=result.is_live,
        )

    # -- PlaylistResolver ------------------------------------------------------------------

    async def expand(self, entry: str) -> list[Track]:
        """A 24/7 playlist entry as tracks: a library folder gives all its playable files."""
        text = entry.strip()
        name = text[len(LIBRARY_PREFIX) :] if text.lower().startswith(LIBRARY_PREFIX) else text
        folder = (
            None if looks_like_url(text) else await asyncio.to_thread(self.library.folder, name)
        )
        if folder is not None:
            tracks: list[Track] = []
            anonymous = SourceRequest(query="")
            for item in folder:
                try:
                    async with self.gate.slot(None):
                        tracks.append(await self._library_track(item, anonymous))
                except SourceError as exc:
                    SOURCE_FAILURES.labels(kind="library", reason=exc.code).inc()
            if not tracks:
                raise SourceError("not_found", "no playable file in that folder")
            return [_as_playlist(t) for t in tracks]
        found = await self.resolve(SourceRequest(query=text))
        listed = found.tracks if isinstance(found, Playlist) else (found,)
        return [_as_playlist(t) for t in listed]


def _as_playlist(track: Track) -> Track:
    return Track(
        title=track.title,
        source=track.source,
        media=track.media,
        kind=SourceKind.PLAYLIST,
        duration=track.duration,
        thumbnail=track.thumbnail,
        is_live=track.is_live,
        expires_at=track.expires_at,
    )


def log_refresh(chat_id: int, track: Track, outcome: str) -> None:
    log.info("chat %s: stream address of %s resolved: %s", chat_id, track.id, outcome)
