"""Stream addresses resolved just in time, for one chat.

A playlist link queues its entries from the listing alone (title, duration, page URL), so
fifty entries are queued in seconds; each entry's stream URL is resolved when it is about
to play.  A site's stream URL also expires (yt-dlp's are signed for hours), so a track
resolved at /play that waited in the queue, or survived a restart in the store, is resolved
again when its address would expire before it has played through.

``MediaPrefetch`` does both: ``fresh`` gives the track to play now (resolving it if needed,
so a failure becomes a skipped track), and ``prefetch`` resolves the next track in the
background while the current one plays, so the switch does not wait for a site lookup.
Resolved copies live only in memory: the store keeps what was queued, and after a restart
the address is resolved again, which is what an expired one needs anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.domain.clock import Clock
from bot.domain.models import Track
from bot.domain.ports import MediaResolver
from bot.engines.base import MediaError
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: an address is resolved again when it would expire within the track's length plus this
REFRESH_MARGIN_SECONDS = 60.0


def margin(track: Track) -> float:
    """How long ``track``'s address must stay valid from now: the whole track, plus slack."""
    return (track.duration or 0.0) + REFRESH_MARGIN_SECONDS


class MediaPrefetch:
    def __init__(self, chat_id: int, resolver: MediaResolver | None, clock: Clock) -> None:
        self.chat_id = chat_id
        self._resolver = resolver
        self._clock = clock
        self._ready: dict[str, Track] = {}  # the prefetched upcoming track, at most one
        self._for: str | None = None  # the track id the current prefetch is for
        self._result: asyncio.Future[Track | None] | None = None
        self._task: asyncio.Task[None] | None = None

    def ready(self, track: Track) -> Track | None:
        """``track`` itself when its address is good for the whole play, else its prefetched
        copy while that is not expired, else None (it must be resolved first)."""
        now = self._clock.time()
        if not track.needs_media(now, margin(track)):
            return track
        copy = self._ready.get(track.id)
        if copy is not None and not copy.needs_media(now):
            return copy
        return None

    async def fresh(self, track: Track) -> Track:
        """The track to play now, resolved here unless it is ready; raises MediaError."""
        if self._for == track.id and self._result is not None:
            # a prefetch of this very track is in flight: its result, not a second lookup
            await asyncio.wait({self._result})
        ready = self.ready(track)
        if ready is not None:
            self._ready.pop(track.id, None)
            return ready
        if self._resolver is None:
            raise MediaError("the track's stream address cannot be resolved here")
        return await self._resolver.fresh(self.chat_id, track)

    def prefetch(self, track: Track, on_ready: Callable[[Track], Awaitable[None]]) -> None:
        """Resolves ``track`` in the background (once per track); ``on_ready`` gets the
        result (to preload it into the engine).  A failure is left for ``fresh`` to meet
        again when the track is due, where it skips the track with a clear line."""
        if self._resolver is None or self._for == track.id:
            return
        self.cancel()
        self._for = track.id
        self._result = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(
            self._run(self._resolver, track, self._result, on_ready),
            name=f"prefetch-{self.chat_id}",
        )

    async def _run(
        self,
        resolver: MediaResolver,
        track: Track,
        result: asyncio.Future[Track | None],
        on_ready: Callable[[Track], Awaitable[None]],
    ) -> None:
        try:
            copy = await resolver.fresh(self.chat_id, track)
        except Exception as exc:
            log.info("chat %s: %s not prefetched: %s", self.chat_id, track.id, exc)
            result.set_result(None)
            return
        except BaseException:
            result.cancel()
            raise
        self._ready = {track.id: copy}
        result.set_result(copy)
        # after the result: a transition waiting in ``fresh`` holds the lock on_ready takes
        try:
            await on_ready(copy)
        except Exception:
            log.warning("chat %s: prefetched track not preloaded", self.chat_id, exc_info=True)

    def cancel(self) -> None:
        """Forgets the prefetch (the queue went idle or another track is next)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._result is not None and not self._result.done():
            self._result.cancel()
        self._task, self._result, self._for = None, None, None
        self._ready = {}

    async def close(self) -> None:
        task = self._task
        self.cancel()
        if task is not None:
            await cancel_and_wait([task])
