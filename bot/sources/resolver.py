"""What /play accepts, decided in one place: a replied-to Telegram file, an http(s) URL, a
library file, or search words.

Every route ends with a checked, probed (or yt-dlp-described) Track, or a SourceError whose
code the bot turns into one short sentence.  Timing and refusals are recorded per route.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from aiogram import Bot

from bot.config import Settings, SourcesConfig
from bot.domain.models import SourceKind, Track, new_track_id
from bot.metrics import SOURCE_FAILURES, SOURCE_RESOLVE_SECONDS
from bot.sources import http, streaming, ytdlp
from bot.sources.base import Progress, SourceError, SourceRequest
from bot.sources.cache import DownloadCache
from bot.sources.cookies import CookieJars, cookie_state_file
from bot.sources.guard import check_url, split_url
from bot.sources.library import Library, LibraryEntry
from bot.sources.limits import ResolveGate
from bot.sources.page_meta import Listing, Wanted
from bot.sources.probe import probe, with_media
from bot.sources.progress import report
from bot.sources.telegram_files import Readers, TelegramFiles
from bot.sources.tg_messages import parse_message_link

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
    ) -> None:
        self._cfg = sources
        self._max_seconds = max_track_seconds
        self._telegram = telegram
        self.library = Library(sources.library_dir)
        self.cookies = CookieJars(sources.ytdlp_cookies, state_file=cookie_state_file(sources))
        self.gate = ResolveGate(
            total=sources.max_concurrent_resolves,
            per_chat=sources.max_resolves_per_chat,
            wait_seconds=sources.resolve_wait_seconds,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        bot: Bot | None,
        cache: DownloadCache | None = None,
        readers: Readers | None = None,
    ) -> SourceResolver:
        """``cache``: the download folder's keeper; Telegram files need both it and ``bot``.
        ``readers``: the assistant accounts that read files over 20 MB and t.me links."""
        files = None
        if bot is not None and cache is not None:
            files = TelegramFiles(
                bot,
                cache=cache,
                max_download_mb=settings.sources.max_download_mb,
                probe_timeout=settings.sources.probe_timeout_seconds,
                max_track_seconds=settings.player.max_track_seconds,
                readers=readers,
            )
        return cls(
            settings.sources, max_track_seconds=settings.player.max_track_seconds, telegram=files
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
        if parse_message_link(query) is not None:
            return "telegram_link"
        if looks_like_url(query):
            return "url"
        return "search"

    async def resolve(self, request: SourceRequest, progress: Progress | None = None) -> Track:
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
    ) -> Track:
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
                video_quality=request.video_quality,
            )
        if kind == "telegram_link":
            ref = parse_message_link(query)
            assert ref is not None
            if self._telegram is None:
                raise SourceError("no_reader", "Telegram files are not available here")
            return await self._telegram.resolve_message(
                ref,
                chat_id=request.chat_id,
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

    # -- streaming-service links -----------------------------------------------------------

    def streaming_link(self, request: SourceRequest) -> streaming.ServiceLink | None:
        """The Spotify / Apple Music / Deezer / Yandex Music / Tidal link of the request."""
        query = request.query.strip()
        if request.media is not None or not looks_like_url(query):
            return None
        return streaming.recognise(query)

    async def read_link(
        self, link: streaming.ServiceLink, request: SourceRequest, progress: Progress | None
    ) -> Listing:
        """What the link's page names (one fetch, in one of the chat's fetch slots)."""
        started = time.monotonic()
        try:
            async with self.gate.slot(request.chat_id):
                await report(progress, "search", None)
                return await streaming.read(
                    link,
                    allow_private=self._cfg.allow_private_networks,
                    timeout=self._cfg.probe_timeout_seconds,
                )
        except SourceError as exc:
            SOURCE_FAILURES.labels(kind="streaming", reason=exc.code).inc()
            raise
        finally:
            SOURCE_RESOLVE_SECONDS.labels(kind="streaming").observe(time.monotonic() - started)

    async def match(
        self, wanted: Wanted, request: SourceRequest, progress: Progress | None = None
    ) -> Track:
        """The first search result for one track a link named (the existing search path)."""
        words = wanted.query()
        return await self.resolve(
            SourceRequest(
                query=words,
                requested_by=request.requested_by,
                requested_by_name=request.requested_by_name,
                chat_id=request.chat_id,
            ),
            progress,
        )

    # -- routes ----------------------------------------------------------------------------

    async def _url(self, url: str, request: SourceRequest, progress: Progress | None) -> Track:
        split_url(url)
        allow = self._cfg.allow_private_networks
        # the first call loads yt-dlp's ~1800 extractors: not on the event loop
        if self._cfg.ytdlp_enabled and await asyncio.to_thread(ytdlp.has_site_extractor, url):
            await check_url(url, allow_private=allow)
            return await self._ytdlp(url, url, request, progress)
        timeout = self._cfg.probe_timeout_seconds
        final = await http.follow(url, allow_private=allow, timeout=timeout)
        if final.is_html:
            if not self._cfg.ytdlp_enabled:
                raise SourceError("unsupported", "a web page, not media")
            return await self._ytdlp(final.url, url, request, progress)
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

    async def _ytdlp(
        self, target: str, query: str, request: SourceRequest, progress: Progress | None
    ) -> Track:
        if not self._cfg.ytdlp_enabled:
            raise SourceError("unavailable", "yt-dlp is disabled")
        await report(progress, "search", None)
        info = await ytdlp.lookup(
            target, timeout=2 * self._cfg.probe_timeout_seconds, cookies=self.cookies
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
        return track

    async def _library_track(self, entry: LibraryEntry, request: SourceRequest) -> Track:
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

    # -- MediaRefresher --------------------------------------------------------------------

    async def refresh(self, track: Track) -> Track:
        """``track`` with media that plays now: a live stream whose decoder stopped is
        resolved again from what the user asked for (a YouTube live URL expires; a direct
        URL passes the guard and the probe again, which also tells whether it is back).
        Telegram files and library files are local: they stay as they are."""
        source = track.source
        if not looks_like_url(source):
            return track
        quality = track.quality if track.is_video else None
        fresh = await self.resolve(SourceRequest(query=source, video_quality=quality))
        return replace(track, media=fresh.media, audio_media=fresh.audio_media)

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
        return [_as_playlist(await self.resolve(SourceRequest(query=text)))]


def _as_playlist(track: Track) -> Track:
    """A 24/7 entry: nobody requested it; its media kind and picture stay."""
    return replace(
        track, kind=SourceKind.PLAYLIST, requested_by=None, requested_by_name="", id=new_track_id()
    )
