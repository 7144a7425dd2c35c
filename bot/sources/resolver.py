"""What /play accepts, decided in one place: a replied-to Telegram file, an http(s) URL, a
library file, or search words.

Every route ends (``bot.sources.routes``) with a checked, probed (or yt-dlp-described) Track,
or a SourceError whose code the bot turns into one short sentence.  Timing and refusals are
recorded per route.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace

from aiogram import Bot

from bot.config import Settings, SourcesConfig
from bot.domain.models import SourceKind, Track, new_track_id
from bot.engines.base import MediaError
from bot.metrics import SOURCE_FAILURES, SOURCE_RESOLVE_SECONDS
from bot.sources import streaming, ytdlp
from bot.sources.base import Playlist, Progress, SourceError, SourceRequest
from bot.sources.cache import DownloadCache
from bot.sources.cookies import CookieJars, cookie_state_file
from bot.sources.library import LIBRARY_PREFIX, Library
from bot.sources.limits import ResolveGate
from bot.sources.page_meta import Listing, Wanted
from bot.sources.progress import report
from bot.sources.routes import Routes
from bot.sources.telegram_files import Readers, TelegramFiles
from bot.sources.tg_messages import parse_message_link

log = logging.getLogger(__name__)

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
        self._telegram = telegram
        self.library = Library(sources.library_dir)
        self.cookies = CookieJars(sources.ytdlp_cookies, state_file=cookie_state_file(sources))
        self._routes = Routes(
            sources,
            max_track_seconds=max_track_seconds,
            cookies=self.cookies,
            playlist_limit=playlist_limit,
        )
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
        if parse_message_link(query) is not None:
            return "telegram_link"
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
            return await self._routes.library_file(entry, request)
        if kind == "url":
            return await self._routes.url(query, request, progress)
        if self.library.enabled:
            try:
                entry = await asyncio.to_thread(
                    self.library.find, query, cutoff=STRICT_LIBRARY_CUTOFF
                )
            except SourceError:
                pass
            else:
                return await self._routes.library_file(entry, request)
        return await self._routes.ytdlp(ytdlp.search_target(query), query, request, progress)

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
        found = await self.resolve(
            SourceRequest(
                query=words,
                requested_by=request.requested_by,
                requested_by_name=request.requested_by_name,
                video_quality=request.video_quality,  # /vplay of an album: video results
                chat_id=request.chat_id,
            ),
            progress,
        )
        if isinstance(found, Playlist):  # search words give one result, never a listing
            raise SourceError("not_found", "the search gave a list, not a track")
        return found

    # -- MediaResolver ---------------------------------------------------------------------

    async def fresh(self, chat_id: int, track: Track) -> Track:
        """A queued track's stream address, resolved when it is about to play (a playlist
        entry, or a site URL that expired): ``source`` goes the way a /play link goes, with
        its guards, limits and a fetch slot; a failure is a MediaError (the track is
        skipped with a line in the chat).  A video track is resolved as video again, in
        the quality it was queued with (an entry /vplay queued from a playlist link)."""
        reason = "ok"
        try:
            found = await self._again(track)
        except SourceError as exc:
            reason = exc.code
            raise MediaError(f"could not resolve {track.source}: {exc}") from exc
        finally:
            log_refresh(chat_id, track, reason)
        return replace(
            track,
            media=found.media,
            audio_media=found.audio_media,
            expires_at=found.expires_at,
            duration=found.duration if found.duration is not None else track.duration,
            is_live=found.is_live,
            thumbnail=track.thumbnail or found.thumbnail,
            # what the source really is: a /vplay entry without a picture plays as audio
            media_kind=found.media_kind,
            quality=found.quality,
            width=found.width,
            height=found.height,
            fps=found.fps,
            has_audio=found.has_audio,
        )

    async def _again(self, track: Track) -> Track:
        """``track.source`` resolved again, in a fetch slot, timed and counted as a refresh;
        raises SourceError."""
        started = time.monotonic()
        try:
            async with self.gate.slot(None):
                return await self._single(track)
        except SourceError as exc:
            SOURCE_FAILURES.labels(kind="refresh", reason=exc.code).inc()
            raise
        finally:
            SOURCE_RESOLVE_SECONDS.labels(kind="refresh").observe(time.monotonic() - started)

    async def _single(self, track: Track) -> Track:
        """``track.source`` resolved as one item (never listed), as video in the track's
        quality when it is a video track."""
        source = track.source
        anonymous = SourceRequest(
            query=source, video_quality=track.quality if track.is_video else None
        )
        if source.lower().startswith(LIBRARY_PREFIX):
            entry = await asyncio.to_thread(self.library.find, source[len(LIBRARY_PREFIX) :])
            return await self._routes.library_file(entry, anonymous)
        found = await self._routes.url(source, anonymous, None, listing=False)
        assert isinstance(found, Track)  # not listed: one item
        return found

    # -- MediaRefresher --------------------------------------------------------------------

    async def refresh(self, track: Track) -> Track:
        """``track`` with media that plays now: a live stream whose decoder stopped is
        resolved again from what the user asked for (a YouTube live URL expires; a direct
        URL passes the guard and the probe again, which also tells whether it is back).
        Telegram files and library files are local: they stay as they are."""
        if not looks_like_url(track.source):
            return track
        fresh = await self._again(track)
        return replace(
            track, media=fresh.media, audio_media=fresh.audio_media, expires_at=fresh.expires_at
        )

    # -- PlaylistResolver ------------------------------------------------------------------

    async def expand(self, entry: str, *, video_quality: str | None = None) -> list[Track]:
        """A 24/7 playlist entry as tracks: a library folder gives all its playable files;
        with ``video_quality`` each as /vplay would take it."""
        text = entry.strip()
        name = text[len(LIBRARY_PREFIX) :] if text.lower().startswith(LIBRARY_PREFIX) else text
        folder = (
            None if looks_like_url(text) else await asyncio.to_thread(self.library.folder, name)
        )
        if folder is not None:
            tracks: list[Track] = []
            anonymous = SourceRequest(query="", video_quality=video_quality)
            for item in folder:
                try:
                    async with self.gate.slot(None):
                        tracks.append(await self._routes.library_file(item, anonymous))
                except SourceError as exc:
                    SOURCE_FAILURES.labels(kind="library", reason=exc.code).inc()
            if not tracks:
                raise SourceError("not_found", "no playable file in that folder")
            return [_as_playlist(t) for t in tracks]
        found = await self.resolve(SourceRequest(query=text, video_quality=video_quality))
        listed = found.tracks if isinstance(found, Playlist) else (found,)
        return [_as_playlist(t) for t in listed]


def _as_playlist(track: Track) -> Track:
    """A 24/7 entry: nobody requested it; its media kind and picture stay."""
    return replace(
        track, kind=SourceKind.PLAYLIST, requested_by=None, requested_by_name="", id=new_track_id()
    )


def log_refresh(chat_id: int, track: Track, outcome: str) -> None:
    log.info("chat %s: stream address of %s resolved: %s", chat_id, track.id, outcome)
