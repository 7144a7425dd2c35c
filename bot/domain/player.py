"""One chat's commands and engine events, each a transition under the chat's lock.

See ``bot.domain.playback`` for the states and the store-first rule every step follows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from bot.domain.control import BatchOutcome, PlayOutcome
from bot.domain.errors import ErrorCode, PlayerError
from bot.domain.live_restart import LiveRestarts
from bot.domain.models import EndReason, LoopMode, NowPlaying, Track
from bot.domain.playback import CHECKPOINT_DRIFT_SECONDS, Playback, PlayerDeps, overran, ran_out
from bot.domain.policy import VOLUME_MAX, VOLUME_MIN
from bot.domain.queue import Checkpoint, QueueSnapshot, QueueStore
from bot.domain.tempo import change_speed
from bot.engines.base import EngineError, MediaError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChatPlayer:
    """One chat's player: the commands and engine events, composed from the steps of its
    ``Playback`` (which holds the chat's state and lock)."""

    def __init__(self, chat_id: int, deps: PlayerDeps) -> None:
        self.chat_id = chat_id
        self._d = deps
        self._p = Playback(chat_id, deps)
        self._live = LiveRestarts(chat_id, self._p, deps, self._failed)

    @property
    def lock(self) -> asyncio.Lock:
        """Held by every transition; the manager takes it to apply a listener count."""
        return self._p.lock

    @property
    def now_playing(self) -> NowPlaying | None:
        """The slot as this process last started or updated it (None: not playing)."""
        return self._p.current

    @property
    def engine_track(self) -> str | None:
        """The track id the engine holds (None: not streaming)."""
        return self._p.engine_track

    @property
    def listeners(self) -> int | None:
        return self._p.listeners

    @listeners.setter
    def listeners(self, count: int | None) -> None:
        self._p.listeners = count

    async def volume(self) -> int:
        return await self._p.levels.volume()

    async def rate(self, track: Track) -> float:
        """The speed ``track`` plays at in this chat (1.0 for a live one)."""
        return await self._p.levels.rate(track)

    async def speed(self) -> float:
        return await self._p.levels.speed()

    async def close(self) -> None:
        """Stops a stream address being resolved in the background (at shutdown)."""
        await self._p.media.close()

    # -- commands ------------------------------------------------------------------------

    async def play(self, track: Track) -> PlayOutcome:
        d = self._d
        if track.is_video and not d.stats.video_slot_free(self.chat_id, d.config.max_video_streams):
            # refused, not degraded: every running picture stays as it is
            raise PlayerError(ErrorCode.VIDEO_LIMIT, str(d.config.max_video_streams))
        async with self._p.lock:
            queued_at = await d.store.enqueue(self.chat_id, track, limit=d.config.queue_limit)
            self._p.failures = 0
            if self._p.engine_track is not None:
                await self._p.queue_changed()
                return PlayOutcome(track, started=False, position=queued_at)
            failed: list[tuple[str, MediaError]] = []
            try:
                current = await d.store.start_next(self.chat_id, now=d.clock.time())
                started = await self._p.start(current, "play", failed=failed)
            finally:
                await self._p.queue_changed()
            for track_id, error in failed:
                if track_id == track.id:
                    raise error
            if started is not None and started.track.id == track.id:
                return PlayOutcome(track, started=True, position=0)
            pending = await d.store.pending(self.chat_id)
            ids = [t.id for t in pending]
            position = ids.index(track.id) + 1 if track.id in ids else queued_at
            return PlayOutcome(track, started=False, position=position)

    async def play_many(self, tracks: Sequence[Track]) -> BatchOutcome:
        d = self._d
        if any(t.is_video for t in tracks) and not d.stats.video_slot_free(
            self.chat_id, d.config.max_video_streams
        ):
            # as for one video: refused, not degraded (a /vplay playlist link)
            raise PlayerError(ErrorCode.VIDEO_LIMIT, str(d.config.max_video_streams))
        async with self._p.lock:
            batch = await d.store.enqueue_many(self.chat_id, tracks, limit=d.config.queue_limit)
            self._p.failures = 0
            if self._p.engine_track is not None:
                await self._p.queue_changed()
                return BatchOutcome(batch.added, batch.first, started=None)
            try:
                current = await d.store.start_next(self.chat_id, now=d.clock.time())
                started = await self._p.start(current, "play")
            finally:
                await self._p.queue_changed()
            ours = {t.id for t in tracks[: batch.added]}
            if started is not None and started.track.id in ours:
                return BatchOutcome(batch.added, batch.first, started=started.track)
            return BatchOutcome(batch.added, batch.first, started=None)

    async def skip(self) -> NowPlaying | None:
        d = self._d
        async with self._p.lock:
            slot = await d.store.now_playing(self.chat_id)
            if slot is None:
                raise PlayerError(ErrorCode.NOTHING_PLAYING)
            result = await d.store.advance(
                self.chat_id, slot.track.id, now=d.clock.time(), natural=False
            )
            if not result.advanced or result.finished is None:
                raise PlayerError(ErrorCode.NOTHING_PLAYING)
            self._p.failures = 0
            await self._p.record_end(result.finished, EndReason.SKIPPED)
            try:
                return await self._p.start(result.current, "skip", finished=result.finished)
            finally:
                await self._p.queue_changed()

    async def stop(self, reason: EndReason = EndReason.STOPPED) -> None:
        d = self._d
        async with self._p.lock:
            slot = await d.store.now_playing(self.chat_id)
            await d.store.clear(self.chat_id, include_current=True)
            if slot is not None:
                await self._p.record_end(slot.track, reason)
            await self._p.go_idle(reason.value)
            await self._p.queue_changed()

    async def pause(self) -> bool:
        d = self._d
        async with self._p.lock:
            slot = await d.store.now_playing(self.chat_id)
            if slot is None or slot.paused or self._p.engine_track != slot.track.id:
                return False
            now = d.clock.time()
            position = await self._p.engine_position(slot, now)
            await d.store.checkpoint(
                self.chat_id, slot.track.id, position=position, paused=True, now=now
            )
            self._p.current = replace(slot, position=position, updated_at=now, paused=True)
            await d.engine.pause(self.chat_id)
            self._p.status("paused")
            return True

    async def resume(self) -> bool:
        d = self._d
        async with self._p.lock:
            now = d.clock.time()
            slot = await d.store.now_playing(self.chat_id)
            if self._p.engine_track is not None and slot is not None:
                if self._p.engine_track != slot.track.id or not slot.paused:
                    return False
                await d.store.checkpoint(
                    self.chat_id, slot.track.id, position=slot.position, paused=False, now=now
                )
                self._p.current = replace(slot, updated_at=now, paused=False)
                await d.engine.resume(self.chat_id)
                self._p.status("playing")
                return True
            # Stalled (a failed join, a call that went away) or left over: start it again.
            if slot is None:
                slot = await d.store.start_next(self.chat_id, now=now)
                if slot is None:
                    return False
            try:
                started = await self._p.start(slot, "resume")
            finally:
                await self._p.queue_changed()
            return started is not None

    async def seek(self, position: float) -> None:
        d = self._d
        async with self._p.lock:
            slot = await d.store.now_playing(self.chat_id)
            if slot is None or self._p.engine_track != slot.track.id:
                raise PlayerError(ErrorCode.NOTHING_PLAYING)
            if slot.track.is_live:
                raise PlayerError(ErrorCode.NOT_SEEKABLE)
            duration = slot.track.duration
            if (
                not math.isfinite(position)
                or position < 0
                or (duration is not None and position >= duration)
            ):
                raise PlayerError(ErrorCode.BAD_POSITION, f"{position} of {duration}")
            now = d.clock.time()
            await d.store.checkpoint(
                self.chat_id, slot.track.id, position=position, paused=slot.paused, now=now
            )
            self._p.current = replace(slot, position=position, updated_at=now)
            await d.engine.seek(self.chat_id, position)

    async def set_volume(self, volume: int) -> None:
        if not VOLUME_MIN <= volume <= VOLUME_MAX:
            raise PlayerError(ErrorCode.BAD_VOLUME, str(volume))
        async with self._p.lock:
            self._p.levels.remember_volume(volume)
            if self._p.engine_track is not None:
                await self._d.engine.set_volume(self.chat_id, volume)

    async def set_speed(self, speed: float) -> bool:
        """See ``bot.domain.tempo``; a track the new tempo cannot play is skipped as a
        failed one would be."""
        async with self._p.lock:
            try:
                return await change_speed(self._p, self._d, speed)
            except MediaError as exc:
                track_id = self._p.engine_track
                if track_id is not None:
                    await self._failed(track_id, str(exc))
                return True

    async def edit_queue(self, change: Callable[[QueueStore], Awaitable[T]]) -> T:
        """Runs a pending-list edit (remove, move, shuffle, clear, loop) under the lock,
        then announces the queue."""
        async with self._p.lock:
            result = await change(self._d.store)
            await self._p.queue_changed()
            return result

    # -- engine events -------------------------------------------------------------------

    async def on_track_ended(self, track_id: str) -> bool:
        """Natural end; False for a duplicate or stale report (the store ignores it), and
        for a live source's outage, which is restarted instead (``bot.domain.live``)."""
        async with self._p.lock:
            if self._live.outage(track_id, None):
                return False
            return await self._natural_end(track_id)

    async def _natural_end(self, track_id: str) -> bool:
        d = self._d
        result = await d.store.advance(self.chat_id, track_id, now=d.clock.time(), natural=True)
        if not result.advanced:
            return False
        self._p.failures = 0
        if result.finished is not None:
            await self._p.record_end(result.finished, EndReason.FINISHED)
        await self._p.continue_after(result, "advance")
        return True

    async def on_track_failed(self, track_id: str, message: str) -> bool:
        async with self._p.lock:
            if self._live.outage(track_id, message):
                return False
            return await self._failed(track_id, message)

    async def _failed(self, track_id: str, message: str) -> bool:
        slot = await self._d.store.now_playing(self.chat_id)
        if slot is None or slot.track.id != track_id:
            return False
        result = await self._p.fail(slot.track, message)
        if result is None:
            await self._p.queue_changed()
        else:
            await self._p.continue_after(result, "advance")
        return True

    def cancel_live_restart(self) -> None:
        """A restart scheduled for later must not run once the manager closes."""
        self._live.cancel()

    async def on_call_gone(self, reason: str) -> bool:
        """The call ended under us: the queue stays, the slot is kept paused where it was."""
        d = self._d
        async with self._p.lock:
            if self._p.engine_track is None:
                return False
            slot = await d.store.now_playing(self.chat_id)
            if slot is not None:
                await self._p.freeze(slot)
                await self._p.record_end(slot.track, EndReason.CALL_GONE)
            log.info("chat %s: call gone (%s)", self.chat_id, reason)
            await self._p.go_idle("call_gone")
            return True

    async def recover(
        self,
        snapshot: QueueSnapshot | None = None,
        deferred: list[Checkpoint] | None = None,
    ) -> bool:
        """Replays what the store says after a restart; True when something plays.

        ``snapshot``: the chat's state as the manager read it for a whole batch of chats
        (``QueueStore.load_many``), saving this chat its own reads.  ``deferred``: where a
        resumed track's position goes for the manager's batched write (see ``_engine_play``)."""
        d = self._d
        async with self._p.lock:
            if self._p.engine_track is not None:
                return False
            now = d.clock.time()
            if snapshot is not None:
                slot = snapshot.current
            else:
                slot = await d.store.now_playing(self.chat_id)
            finished: Track | None = None
            unchanged: tuple[Sequence[Track], LoopMode] | None = None
            if slot is not None and ran_out(slot, now, await self._p.levels.rate(slot.track)):
                result = await d.store.advance(self.chat_id, slot.track.id, now=now, natural=True)
                if result.advanced and result.finished is not None:
                    finished = result.finished
                    await self._p.history_ended(finished, EndReason.FINISHED)
                    d.stats.track_ended(EndReason.FINISHED)
                slot, reason, resuming = result.current, "advance", False
            elif slot is None:
                slot = await d.store.start_next(self.chat_id, now=now)
                if slot is None:
                    return False
                reason, resuming = "resume", False
            else:
                reason, resuming = "resume", True
                if snapshot is not None:  # resuming leaves pending as it was read
                    unchanged = (snapshot.pending, snapshot.loop)
            try:
                started = await self._p.start(
                    slot, reason, finished=finished, recovering=resuming, deferred=deferred
                )
            except EngineError as exc:
                log.warning("chat %s not resumed: %s", self.chat_id, exc)
                started = None
                unchanged = None
            finally:
                await self._p.queue_changed(unchanged)
            return started is not None

    async def hand_over(self, reason: str) -> bool:
        """Stops the stream without touching the store (another process serves the chat
        now); True when it was streaming."""
        async with self._p.lock:
            if self._p.engine_track is None:
                return False
            await self._p.go_idle(reason)
            return True

    async def checkpoint(self, *, force: bool = False) -> bool:
        """Records the engine's position when it drifted from what the store extrapolates;
        ends a track that plays past its length (see ``overran``).

        Skipped while a transition holds the lock: that transition writes the slot anyway.
        """
        d = self._d
        if self._p.lock.locked() or self._p.engine_track is None:
            return False
        async with self._p.lock:
            current = self._p.current
            if (
                current is None
                or current.paused
                or current.track.is_live
                or current.track.id != self._p.engine_track
            ):
                return False
            position = await d.engine.position(self.chat_id)
            if position is None:
                return False
            if overran(current.track, position, d.config.max_track_seconds):
                ended = current.track.id
            else:
                return await self._write_position(current, position, force=force)
        log.warning(
            "chat %s: %s plays past its length (%.0f s); ended",
            self.chat_id,
            ended,
            position,
        )
        return await self.on_track_ended(ended)

    async def _write_position(self, current: NowPlaying, position: float, *, force: bool) -> bool:
        d = self._d
        now = d.clock.time()
        expected = current.position_at(now, await self._p.levels.rate(current.track))
        if not force and abs(position - expected) <= CHECKPOINT_DRIFT_SECONDS:
            return False
        written = await d.store.checkpoint(
            self.chat_id, current.track.id, position=position, paused=False, now=now
        )
        if written:
            self._p.current = replace(current, position=position, updated_at=now)
        return written
