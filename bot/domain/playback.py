"""One chat's playback, serialised by a lock, with the queue store as the truth.

Every transition writes to the store first and tells the engine second, so a crash between
the two leaves the store describing what should be playing; ``recover`` replays it.  The
only in-memory state is what the engine holds (``engine_track``) and a mirror of the slot
used for position checkpoints.

States, as the store and the engine together say:

* idle     -- the slot is empty (or holds a track the engine does not play: a "stalled"
  chat after a failed join, kept paused at its position until /play or /resume);
* playing  -- the engine plays the slot's track;
* paused   -- the slot is marked paused (the engine holds the track, paused).

A track that cannot be played (``MediaError``, ``TrackFailed``) is recorded and skipped.
A failure of the call itself (no voice chat, not allowed) stalls the chat instead of
burning through its queue: the slot is frozen (paused) and the error propagates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.always_on import AlwaysOn
from bot.domain.autoend import AutoEnd
from bot.domain.clock import Clock
from bot.domain.events import NO_PLACEMENT, EventBus, QueueUpdate, StreamStatus, TrackChange
from bot.domain.levels import Levels
from bot.domain.live import LiveBackoff
from bot.domain.models import EndReason, LoopMode, MediaKind, NowPlaying, Track
from bot.domain.policy import PlayerPolicy
from bot.domain.ports import (
    ChatSettingsSource,
    KeepMedia,
    MediaRefresher,
    MediaResolver,
    PlayHistorySink,
)
from bot.domain.prefetch import MediaPrefetch
from bot.domain.queue import AdvanceResult, Checkpoint, QueueError, QueueStore
from bot.domain.stream_stats import StreamStats
from bot.domain.video import VideoSpec, fit
from bot.engines.base import EngineError, MediaError, PlayRequest, VoiceEngine

log = logging.getLogger(__name__)

#: after this many tracks in a row fail, the chat stops trying (loop-queue of dead links)
MAX_CONSECUTIVE_FAILURES = 5
#: the periodic checkpoint writes only when the engine drifted this far from the store
CHECKPOINT_DRIFT_SECONDS = 1.0
#: a stored position this close to the live one is used as is (no checkpoint write)
POSITION_SLACK_SECONDS = 0.5
#: a track (not live) is ended this long after its announced length if it still plays
OVERRUN_SLACK_SECONDS = 30.0
#: queue_update carries the titles of the first few pending tracks
QUEUE_UPDATE_TITLES = 5


@dataclass(frozen=True, slots=True)
class PlayerDeps:
    store: QueueStore
    engine: VoiceEngine
    bus: EventBus
    history: PlayHistorySink
    settings: ChatSettingsSource
    always_on: AlwaysOn
    autoend: AutoEnd
    clock: Clock
    config: PlayerPolicy
    stats: StreamStats
    #: where a chat is served (``{"assistant": name, "node": id}``), carried by track_change
    placement: Callable[[int], dict[str, Any]] = field(default=lambda chat_id: dict(NO_PLACEMENT))
    #: makes a live track's media playable again before it is restarted (bot.domain.live)
    refresher: MediaRefresher = field(default_factory=KeepMedia)
    #: resolves playlist entries and expired stream URLs when they are about to play
    media: MediaResolver | None = None


def overran(track: Track, position: float, max_seconds: int) -> bool:
    """A track (not live) still playing well past its announced length, or past the longest
    a track may be: a server that announced three minutes and sends forever.  Live streams
    (media served without a length) are exempt and play until stopped."""
    if track.is_live:
        return False
    limit = max_seconds if track.duration is None else min(track.duration, max_seconds)
    return position > limit + OVERRUN_SLACK_SECONDS


def ran_out(now_playing: NowPlaying, now: float, speed: float = 1.0) -> bool:
    """The slot's track would have finished by ``now`` (its end event was lost), having
    played at ``speed`` since its last checkpoint."""
    track = now_playing.track
    return (
        not track.is_live
        and track.duration is not None
        and now_playing.position_at(now, speed) >= track.duration
    )


class Playback:
    """A chat's playback state and the steps every transition is made of.

    ``ChatPlayer`` (bot.domain.player) owns one and composes its commands and engine
    events from these steps; callers hold ``lock``.
    """

    def __init__(self, chat_id: int, deps: PlayerDeps) -> None:
        self.chat_id = chat_id
        self._d = deps
        self.lock = asyncio.Lock()
        self.engine_track: str | None = None  # the track id the engine holds
        self.current: NowPlaying | None = None  # the slot as last written or read
        self.listeners: int | None = None
        self.levels = Levels(chat_id, deps.settings, deps.config.default_volume)
        self._history_open: Track | None = None
        self.failures = 0
        self.live = LiveBackoff()
        self.live_restart: asyncio.Task[None] | None = None
        self.media = MediaPrefetch(chat_id, deps.media, deps.clock)
        self._upcoming: str | None = None  # the track id preloaded (or being prefetched)

    # -- transitions ---------------------------------------------------------------------

    async def continue_after(self, result: AdvanceResult, reason: str) -> None:
        """Starts what the store put in the slot after an end; a call failure stalls."""
        try:
            await self.start(result.current, reason, finished=result.finished)
        except EngineError as exc:
            log.warning("chat %s stalled: %s", self.chat_id, exc)
        finally:
            await self.queue_changed()

    async def start(
        self,
        current: NowPlaying | None,
        reason: str,
        *,
        finished: Track | None = None,
        recovering: bool = False,
        failed: list[tuple[str, MediaError]] | None = None,
        deferred: list[Checkpoint] | None = None,
    ) -> NowPlaying | None:
        """Plays the slot's track; skips tracks that cannot be played; at the end of the
        queue falls back to the 24/7 playlist, else goes idle.  Returns what plays.

        ``recovering``: ``current`` was playing before a restart: resume it at its stored
        position less the rewind, paused if it was paused, continuing its history row.
        ``deferred``: the position it resumes at is appended there instead of written
        (see ``_engine_play``)."""
        while True:
            if current is None:
                if self.failures < MAX_CONSECUTIVE_FAILURES:
                    current = await self._from_playlist(finished)
                if current is None:
                    await self.go_idle("queue_end")
                    return None
                reason = "always_on"
            try:
                started = await self._engine_play(current, recovering=recovering, deferred=deferred)
            except MediaError as exc:
                if failed is not None:
                    failed.append((current.track.id, exc))
                result = await self.fail(current.track, str(exc))
                if result is None:
                    return None
                finished, current, recovering = current.track, result.current, False
                continue
            await self._announce(started, reason, continued=recovering)
            return started

    async def _engine_play(
        self,
        current: NowPlaying,
        *,
        recovering: bool,
        deferred: list[Checkpoint] | None = None,
        keep_paused: bool = False,
    ) -> NowPlaying:
        """Tells the engine to play the slot (store first if its position or pause flag
        changes); returns the slot as now stored.

        ``deferred`` (recovery only): the resume position is handed to the caller, which
        writes a whole batch of chats' positions at once after their plays.  A crash before
        that write leaves the position from before the restart, from which the next start
        rewinds again: the same track resumes, a few seconds later than it would have."""
        d = self._d
        track = await self.media.fresh(current.track)  # MediaError: skipped like any other
        if track is not current.track:
            current = replace(current, track=track)
        now = d.clock.time()
        rate = await self.levels.rate(current.track)
        live = current.position_at(now, rate)
        if current.track.is_live:
            position = 0.0
        elif recovering:
            position = max(0.0, live - d.config.resume_rewind_seconds)
        elif abs(live - current.position) < POSITION_SLACK_SECONDS:
            position = current.position
        else:
            position = live
        paused = (recovering or keep_paused) and current.paused
        if position != current.position or paused != current.paused:
            if deferred is not None:
                deferred.append(Checkpoint(self.chat_id, current.track.id, position, paused, now))
            else:
                await d.store.checkpoint(
                    self.chat_id, current.track.id, position=position, paused=paused, now=now
                )
            current = replace(current, position=position, updated_at=now, paused=paused)
        self.current = current
        request = PlayRequest(
            chat_id=self.chat_id,
            track_id=current.track.id,
            media=current.track.media,
            position=position,
            volume=await self.levels.volume(),
            is_live=current.track.is_live,
            video=self._video_spec(current.track),
            has_audio=current.track.has_audio,
            audio_media=current.track.audio_media,
            duration=current.track.duration,
            speed=rate,
        )
        try:
            await d.engine.play(request)
            if paused:
                await d.engine.pause(self.chat_id)
        except MediaError:
            raise
        except EngineError as exc:
            await self.freeze(current)
            self.status("error", error=str(exc))
            await self.go_idle("error")
            raise
        self.engine_track = current.track.id
        if current.track.is_live:
            self.live.started(current.track.id, d.clock.time())
        d.stats.stream_started(
            self.chat_id, MediaKind.AUDIO if request.video is None else MediaKind.VIDEO
        )
        return current

    def _video_spec(self, track: Track) -> VideoSpec | None:
        """The picture to render, or None: an audio track, or a video one that finds every
        video slot taken (``player.max_video_streams``) since it was queued -- it plays
        its sound then, so no other chat's picture is degraded; a silent video still needs
        its picture and takes the slot anyway."""
        d = self._d
        if not track.is_video:
            return None
        if track.has_audio and not d.stats.video_slot_free(
            self.chat_id, d.config.max_video_streams
        ):
            log.info("chat %s: video slots taken; %s plays as audio", self.chat_id, track.id)
            return None
        return fit(track.quality or d.config.video_quality, track.width, track.height, track.fps)

    async def restart(self, current: NowPlaying) -> None:
        """Plays the slot's track again at its position: a live one after an outage (see
        ``bot.domain.live``), any one at a new speed (``bot.domain.tempo``).  No
        announcement, no history row, the same track id; paused stays paused."""
        started = await self._engine_play(current, recovering=False, keep_paused=True)
        self.status("paused" if started.paused else "playing")

    async def _announce(self, current: NowPlaying, reason: str, *, continued: bool) -> None:
        """``continued``: the play began before a restart; its history row (if its start
        was recorded at all) stays the open one, and ``ended`` closes it."""
        d = self._d
        if continued:
            self._history_open = current.track
        else:
            await self._history_started(current.track)
            d.stats.track_started()
        d.bus.publish(
            TrackChange(
                chat_id=self.chat_id,
                track=current.track,
                reason=reason,
                position=current.position,
                placement=d.placement(self.chat_id),
            )
        )
        self.status("paused" if current.paused else "playing")

    async def fail(self, track: Track, message: str) -> AdvanceResult | None:
        """Advances past a track that cannot be played; None when there is nothing to go on
        with (stale report, or too many failures in a row: the chat is stalled)."""
        d = self._d
        result = await d.store.advance(self.chat_id, track.id, now=d.clock.time(), natural=False)
        if not result.advanced:  # the slot moved on under us: nothing of ours is playing
            await self.go_idle("error")
            return None
        # A track that never started gets its one (closed) row from ``ended`` alone.
        self._history_open = track
        await self.record_end(track, EndReason.ERROR)
        self.status("error", error=message, track_id=track.id, title=track.title)
        self.failures += 1
        if self.failures >= MAX_CONSECUTIVE_FAILURES and result.current is not None:
            log.warning("chat %s: %d tracks failed in a row; stalled", self.chat_id, self.failures)
            await self.freeze(result.current)
            await self.go_idle("failures")
            return None
        return result

    async def _from_playlist(self, finished: Track | None) -> NowPlaying | None:
        d = self._d
        try:
            track = await d.always_on.next_track(self.chat_id, finished)
        except Exception:
            log.warning("chat %s: 24/7 playlist unavailable", self.chat_id, exc_info=True)
            return None
        if track is None:
            return None
        await d.store.enqueue(self.chat_id, track, limit=d.config.queue_limit)
        return await d.store.start_next(self.chat_id, now=d.clock.time())

    async def freeze(self, slot: NowPlaying) -> None:
        """Keeps the slot where it is without playing: paused at its live position."""
        d = self._d
        now = d.clock.time()
        position = slot.position_at(now, await self.levels.rate(slot.track))
        if slot.track.duration is not None:
            position = min(position, slot.track.duration)
        await d.store.checkpoint(
            self.chat_id, slot.track.id, position=position, paused=True, now=now
        )
        self.current = replace(slot, position=position, updated_at=now, paused=True)

    async def go_idle(self, reason: str) -> None:
        d = self._d
        try:
            await d.engine.stop(self.chat_id)
        except EngineError as exc:
            log.warning("chat %s: engine stop failed: %s", self.chat_id, exc)
        self.engine_track = None
        self.listeners = None
        self.media.cancel()
        d.autoend.cancel(self.chat_id)
        d.stats.stream_ended(self.chat_id)
        self.status("idle", reason=reason)

    async def record_end(self, track: Track, reason: EndReason) -> None:
        """Closes the history row this process opened for ``track`` (if it did)."""
        if self._history_open is None or self._history_open.id != track.id:
            return
        self._history_open = None
        await self.history_ended(track, reason)
        self._d.stats.track_ended(reason)

    async def queue_changed(self, known: tuple[Sequence[Track], LoopMode] | None = None) -> None:
        """Publishes the queue; ``known``: pending and loop mode just read (recovery)."""
        d = self._d
        try:
            pending, loop = known or await d.store.pending_and_loop(self.chat_id)
        except QueueError as exc:
            log.warning("chat %s: queue not readable: %s", self.chat_id, exc)
            return
        d.stats.queue_length(self.chat_id, len(pending))
        d.bus.publish(
            QueueUpdate(
                chat_id=self.chat_id,
                length=len(pending),
                titles=tuple(t.title for t in pending[:QUEUE_UPDATE_TITLES]),
                loop=loop.value,
            )
        )
        await self._preload_head(pending, loop)

    async def preload_again(self) -> None:
        """Hands the engine the next track's request again (a speed change made the one
        it holds stale)."""
        try:
            pending, loop = await self._d.store.pending_and_loop(self.chat_id)
        except QueueError as exc:
            log.warning("chat %s: queue not readable: %s", self.chat_id, exc)
            return
        await self._preload_head(pending, loop)

    async def _preload_head(self, pending: Sequence[Track], loop: LoopMode) -> None:
        if self.engine_track is not None:
            await self._preload(pending[0] if pending and loop is not LoopMode.TRACK else None)

    async def _preload(self, upcoming: Track | None) -> None:
        """Tells the engine what plays after the current track (the head of pending; on
        loop ``track`` a copy under an id not drawn yet, so nothing), so that the switch at
        the end does not wait for the next track's decoder to start."""
        ready = None if upcoming is None else self.media.ready(upcoming)
        self._upcoming = None if upcoming is None else upcoming.id
        if upcoming is not None and ready is None:
            # not resolved yet (a playlist entry) or expiring: resolved in the background,
            # preloaded when that is done (``_prefetched``)
            self.media.prefetch(upcoming, self._prefetched)
        await self._engine_preload(ready)

    async def _prefetched(self, track: Track) -> None:
        async with self.lock:
            if self.engine_track is not None and self._upcoming == track.id:
                await self._engine_preload(track)

    async def _engine_preload(self, upcoming: Track | None) -> None:
        request = None
        if upcoming is not None:
            request = PlayRequest(
                chat_id=self.chat_id,
                track_id=upcoming.id,
                media=upcoming.media,
                volume=await self.levels.volume(),
                is_live=upcoming.is_live,
                video=self._video_spec(upcoming),
                has_audio=upcoming.has_audio,
                audio_media=upcoming.audio_media,
                duration=upcoming.duration,
                speed=await self.levels.rate(upcoming),
            )
        try:
            await self._d.engine.preload(self.chat_id, request)
        except EngineError as exc:
            log.info("chat %s: next track not preloaded: %s", self.chat_id, exc)

    async def engine_position(self, slot: NowPlaying, now: float) -> float:
        position = await self._d.engine.position(self.chat_id)
        if position is None:
            position = slot.position_at(now, await self.levels.rate(slot.track))
        if slot.track.duration is not None:
            position = min(position, slot.track.duration)
        return max(0.0, position)

    def status(
        self,
        state: str,
        *,
        reason: str | None = None,
        error: str | None = None,
        track_id: str | None = None,
        title: str | None = None,
    ) -> None:
        self._d.bus.publish(
            StreamStatus(
                chat_id=self.chat_id,
                state=state,
                reason=reason,
                error=error,
                track_id=track_id,
                title=title,
            )
        )

    # History is a record, not a dependency of playback: a failing sink is only logged.

    async def _history_started(self, track: Track) -> None:
        self._history_open = track
        try:
            await self._d.history.started(self.chat_id, track)
        except Exception:
            log.warning("chat %s: play history not recorded", self.chat_id, exc_info=True)

    async def history_ended(self, track: Track, reason: EndReason) -> None:
        try:
            await self._d.history.ended(self.chat_id, track, reason)
        except Exception:
            log.warning("chat %s: play history not recorded", self.chat_id, exc_info=True)
