"""24/7 mode: when a chat's queue runs out, the next track of its playlist is queued.

Only one playlist track is queued at a time, so a member's /play still comes next instead
of waiting behind the whole playlist.  Which playlist track is next is derived from the
track that just finished (its source), not from a cursor in memory, so the rotation carries
on across restarts.  Expansions are cached for ``CACHE_SECONDS`` because expanding may
mean a network round trip (and stream URLs expire).
"""

from __future__ import annotations

import logging

from bot.domain.clock import Clock
from bot.domain.models import Track
from bot.domain.ports import ChatSettingsSource, PlaylistResolver

log = logging.getLogger(__name__)

CACHE_SECONDS = 3600.0


class AlwaysOn:
    def __init__(
        self,
        settings: ChatSettingsSource,
        resolver: PlaylistResolver,
        clock: Clock,
        *,
        default_quality: str,
    ) -> None:
        self._settings = settings
        self._resolver = resolver
        self._clock = clock
        #: the video preset of a chat that chose none (``player.video_quality``)
        self._default_quality = default_quality
        # chat -> ((playlist, video preset or None) it was expanded for, expanded at, tracks)
        self._cache: dict[int, tuple[tuple[tuple[str, ...], str | None], float, list[Track]]] = {}

    async def next_track(self, chat_id: int, after: Track | None) -> Track | None:
        """The playlist track that follows ``after`` (the first one when ``after`` is not
        from the playlist), under a fresh id; None when 24/7 is off or nothing expands."""
        settings = await self._settings.get(chat_id)
        if not settings.always_on or not settings.playlist:
            self._cache.pop(chat_id, None)
            return None
        quality = settings.quality(self._default_quality) if settings.playlist_video else None
        tracks = await self._expanded(chat_id, settings.playlist, quality)
        if not tracks:
            return None
        index = -1
        if after is not None:
            index = next(
                (i for i, t in enumerate(tracks) if t.source == after.source),
                -1,
            )
        return tracks[(index + 1) % len(tracks)].with_new_id()

    async def _expanded(
        self, chat_id: int, playlist: tuple[str, ...], quality: str | None
    ) -> list[Track]:
        cached = self._cache.get(chat_id)
        now = self._clock.monotonic()
        key = (playlist, quality)
        if cached is not None and cached[0] == key and now - cached[1] < CACHE_SECONDS:
            return cached[2]
        tracks: list[Track] = []
        for entry in playlist:
            try:
                tracks.extend(await self._resolver.expand(entry, video_quality=quality))
            except Exception:
                # One dead entry must not silence the whole playlist.
                log.warning("24/7 playlist entry failed to expand: %s", entry, exc_info=True)
        if tracks:  # an empty result (network down?) is retried next time, not cached
            self._cache[chat_id] = (key, now, tracks)
        return tracks
