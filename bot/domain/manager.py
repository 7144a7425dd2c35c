"""The player manager: the ``Players`` the bot and the web call, one ``ChatPlayer`` per chat.

Engine events are queued per chat and handled by a short-lived worker task per chat, so
the engine's own event task is never blocked by one chat's store round trip, and each
chat still sees its events in the order the engine reported them.

Background loops (on the Clock): a listener poll every ``player.participants_check_seconds``
(feeds auto-end; participant updates are not reliable) and a position checkpoint every
``player.checkpoint_seconds`` that writes only chats whose engine position drifted from
what the store extrapolates, so ten thousand steady streams cost no writes.

Start-up order: ``engine.start()``, ``await players.recover()``, ``await players.start()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bot.domain.always_on import AlwaysOn
from bot.domain.autoend import AutoEnd
from bot.domain.clock import Clock, SystemClock
from bot.domain.control import BatchOutcome, ChatSnapshot, Players, PlayerState, PlayOutcome
from bot.domain.events import NO_PLACEMENT, EventBus, ListenersUpdate
from bot.domain.events import PictureLost as PictureLostAlert
from bot.domain.models import EndReason, LoopMode, NowPlaying, Track
from bot.domain.playback import PlayerDeps
from bot.domain.player import ChatPlayer
from bot.domain.policy import PlayerPolicy
from bot.domain.ports import (
    ChatSettingsSource,
    KeepMedia,
    MediaRefresher,
    MediaResolver,
    PlayHistorySink,
    PlaylistResolver,
)
from bot.domain.queue import Checkpoint, Fenced, QueueError, QueueSnapshot, QueueStore
from bot.domain.stream_stats import StatsSink, StreamStats
from bot.engines.base import (
    CallGone,
    EngineEvent,
    FirstFrame,
    ListenersChanged,
    PictureLost,
    TrackEnded,
    TrackFailed,
    VoiceEngine,
)
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: chats handled at once by recovery and the periodic loops (engine joins are slow, but
#: ten thousand at once would swamp the store and Telegram)
CONCURRENCY = 50
# chats recovered per settings query; small enough that their cached settings are still
# fresh (storage.settings_cache_seconds) when the last of them starts
RECOVER_BATCH = 500
AUTO_END_REASON = "no_listeners"


async def for_each(items: Iterable[int], work: Callable[[int], Awaitable[None]]) -> None:
    """Runs ``work`` over ``items`` with at most CONCURRENCY in flight; errors are logged."""
    queue = list(items)
    pending = iter(queue)

    async def worker() -> None:
        for item in pending:
            try:
                await work(item)
            except Exception:
                log.exception("chat %s: background step failed", item)

    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(queue)))))


class PlayerManager:
    """Implements ``bot.domain.control.Players``."""

    def __init__(
        self,
        *,
        store: QueueStore,
        engine: VoiceEngine,
        bus: EventBus,
        history: PlayHistorySink,
        settings: ChatSettingsSource,
        playlists: PlaylistResolver,
        config: PlayerPolicy,
        clock: Clock | None = None,
        stats_sink: StatsSink | None = None,
        placement: Callable[[int], dict[str, Any]] | None = None,
        refresher: MediaRefresher | None = None,
        media: MediaResolver | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._store = store
        self._engine = engine
        self._bus = bus
        self._config = config
        self.stats = StreamStats(stats_sink)
        self.autoend = AutoEnd(
            clock=self._clock, bus=bus, settings=settings, config=config, end=self._auto_end
        )
        self._deps = PlayerDeps(
            store=store,
            engine=engine,
            bus=bus,
            history=history,
            settings=settings,
            always_on=AlwaysOn(
                settings, playlists, self._clock, default_quality=config.video_quality
            ),
            autoend=self.autoend,
            clock=self._clock,
            config=config,
            stats=self.stats,
            placement=placement or (lambda chat_id: dict(NO_PLACEMENT)),
            refresher=refresher or KeepMedia(),
            media=media,
        )
        self._players: dict[int, ChatPlayer] = {}
        self._inbox: dict[int, deque[EngineEvent]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._end_hooks: list[Callable[[TrackEnded | TrackFailed], None]] = []
        engine.set_handler(self.handle_event)

    def chat(self, chat_id: int) -> ChatPlayer:
        player = self._players.get(chat_id)
        if player is None:
            player = self._players[chat_id] = ChatPlayer(chat_id, self._deps)
        return player

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the listener poll and the checkpoint loop."""
        if self._loops:
            return
        self._loops = [
            asyncio.create_task(self._poll_listeners_loop(), name="player-listeners"),
            asyncio.create_task(self._checkpoint_loop(), name="player-checkpoints"),
        ]

    async def close(self) -> None:
        """Stops the loops, finishes queued engine events and records every position."""
        loops, self._loops = self._loops, []
        await cancel_and_wait(loops)
        for player in self._players.values():
            player.cancel_live_restart()
        await self.autoend.close()
        await self.drain()

        async def final(chat_id: int) -> None:
            await self.chat(chat_id).checkpoint(force=True)

        await for_each(self.active_chats(), final)
        for player in self._players.values():
            await player.close()

    async def recover(self, only: Sequence[int] | None = None) -> int:
        """Resumes every chat the store has state for (``only``: those of these chats, as
        a cluster node does for the chats of an assistant it has just taken over); returns
        how many now play."""
        chats = await self._store.chats_with_state()
        if only is not None:
            wanted = set(only)
            chats = [c for c in chats if c in wanted]
        if not self._config.resume_after_restart:
            log.info("%d chats have queued tracks; resume_after_restart is off", len(chats))
            return 0
        restored = 0

        snapshots: dict[int, QueueSnapshot] = {}
        positions: list[Checkpoint] = []

        async def one(chat_id: int) -> None:
            nonlocal restored
            if await self.chat(chat_id).recover(snapshots.pop(chat_id, None), positions):
                restored += 1

        ordered = list(chats)
        for first in range(0, len(ordered), RECOVER_BATCH):
            batch = ordered[first : first + RECOVER_BATCH]
            # one read for the batch instead of several per chat, for the queues and for
            # the settings (each player's own settings read then hits the cache, still
            # fresh since the batch is small); a chat without a snapshot reads its own
            try:
                snapshots.update(await self._store.load_many(batch))
            except QueueError as exc:
                log.warning("queues of %d chats unreadable at once: %s", len(batch), exc)
            try:
                await self._deps.settings.get_many(batch)
            except Exception:
                log.warning("settings of %d chats unreadable at once", len(batch), exc_info=True)
            await for_each(batch, one)
            try:
                await self._store.checkpoint_many(positions)
            except QueueError as exc:  # they resume at the old position after a crash
                log.warning("resume positions of %d chats not written: %s", len(positions), exc)
            positions.clear()
        log.info("recovered %d of %d chats", restored, len(chats))
        return restored

    async def relinquish(self, chat_ids: Iterable[int], reason: str = "handed_over") -> int:
        """Stops the streams of chats this process no longer serves (another process took
        them over: a lease moved, a write was fenced), writing nothing to the store, which
        belongs to the new holder now; returns how many were streaming."""
        stopped = 0
        for chat_id in chat_ids:
            player = self._players.pop(chat_id, None)
            if player is not None and await player.hand_over(reason):
                stopped += 1
        return stopped

    async def drain(self) -> None:
        """Waits until every engine event received so far has been handled."""
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    # -- Players -------------------------------------------------------------------------

    async def play(self, chat_id: int, track: Track) -> PlayOutcome:
        return await self.chat(chat_id).play(track)

    async def play_many(self, chat_id: int, tracks: Sequence[Track]) -> BatchOutcome:
        return await self.chat(chat_id).play_many(tracks)

    async def room(self, chat_id: int) -> int:
        return max(0, self._config.queue_limit - await self._store.length(chat_id))

    async def skip(self, chat_id: int) -> NowPlaying | None:
        return await self.chat(chat_id).skip()

    async def stop(self, chat_id: int) -> None:
        await self.chat(chat_id).stop()

    async def pause(self, chat_id: int) -> bool:
        return await self.chat(chat_id).pause()

    async def resume(self, chat_id: int) -> bool:
        return await self.chat(chat_id).resume()

    async def seek(self, chat_id: int, position: float) -> None:
        await self.chat(chat_id).seek(position)

    async def set_volume(self, chat_id: int, volume: int) -> None:
        await self.chat(chat_id).set_volume(volume)

    async def set_speed(self, chat_id: int, speed: float) -> bool:
        return await self.chat(chat_id).set_speed(speed)

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        await self.chat(chat_id).edit_queue(lambda store: store.set_loop(chat_id, mode))

    async def shuffle(self, chat_id: int) -> None:
        await self.chat(chat_id).edit_queue(lambda store: store.shuffle(chat_id))

    async def remove(self, chat_id: int, position: int) -> Track:
        return await self.chat(chat_id).edit_queue(lambda store: store.remove(chat_id, position))

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        return await self.chat(chat_id).edit_queue(
            lambda store: store.remove_track(chat_id, track_id)
        )

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        return await self.chat(chat_id).edit_queue(lambda store: store.move(chat_id, src, dst))

    async def clear(self, chat_id: int) -> int:
        return await self.chat(chat_id).edit_queue(
            lambda store: store.clear(chat_id, include_current=False)
        )

    async def snapshot(self, chat_id: int) -> ChatSnapshot:
        player = self.chat(chat_id)
        # slot, pending and loop in one round trip (and one consistent read) instead of three
        queue = (await self._store.load_many([chat_id]))[chat_id]
        now, pending, loop = queue.current, queue.pending, queue.loop
        position: float | None = None
        if now is None:
            state = PlayerState.IDLE
        else:
            position = now.position_at(self._clock.time(), await player.rate(now.track))
            if now.track.duration is not None:
                position = min(position, now.track.duration)
            if now.paused:
                state = PlayerState.PAUSED
            elif player.engine_track == now.track.id:
                state = PlayerState.PLAYING
            else:
                state = PlayerState.IDLE
        return ChatSnapshot(
            chat_id=chat_id,
            state=state,
            now=now,
            position=position,
            pending=pending,
            loop=loop,
            listeners=player.listeners,
            volume=await player.volume(),
            speed=await player.speed(),
        )

    async def chats_with_state(self) -> list[int]:
        return await self._store.chats_with_state()

    def may_stream_video(self, chat_id: int) -> bool:
        return self.stats.video_slot_free(chat_id, self._config.max_video_streams)

    def active_chats(self) -> list[int]:
        """Chats whose stream the engine holds (playing or paused)."""
        return [c for c, p in self._players.items() if p.engine_track is not None]

    # -- engine events -------------------------------------------------------------------

    async def handle_event(self, event: EngineEvent) -> None:
        """The engine's event handler: queues the event for its chat and returns at once."""
        self._inbox.setdefault(event.chat_id, deque()).append(event)
        if event.chat_id not in self._workers:
            self._workers[event.chat_id] = asyncio.create_task(
                self._work(event.chat_id), name=f"player-events-{event.chat_id}"
            )

    async def _work(self, chat_id: int) -> None:
        inbox = self._inbox[chat_id]
        try:
            while inbox:
                event = inbox.popleft()
                try:
                    await self._dispatch(event)
                except Fenced:
                    log.warning("chat %s: served by another process now; stream stopped", chat_id)
                    await self.relinquish([chat_id])
                except Exception:
                    log.exception("chat %s: %s not handled", chat_id, type(event).__name__)
        finally:
            del self._workers[chat_id]
            del self._inbox[chat_id]

    async def _dispatch(self, event: EngineEvent) -> None:
        if isinstance(event, TrackEnded):
            if await self.chat(event.chat_id).on_track_ended(event.track_id):
                self._ended(event)
        elif isinstance(event, TrackFailed):
            if await self.chat(event.chat_id).on_track_failed(event.track_id, event.message):
                self._ended(event)
        elif isinstance(event, CallGone):
            await self.chat(event.chat_id).on_call_gone(event.reason)
        elif isinstance(event, ListenersChanged):
            await self._listeners(event.chat_id, event.count)
        elif isinstance(event, FirstFrame):
            log.debug("chat %s: first frame of %s", event.chat_id, event.track_id)
        elif isinstance(event, PictureLost):
            await self._picture_lost(event)

    def on_track_handled(self, callback: Callable[[TrackEnded | TrackFailed], None]) -> None:
        """Calls ``callback`` each time an engine-reported end or failure moved a chat on
        (not for a duplicate or stale report), before any other task runs: what a crash
        test journals as acknowledged."""
        self._end_hooks.append(callback)

    def _ended(self, event: TrackEnded | TrackFailed) -> None:
        for hook in self._end_hooks:
            hook(event)

    async def _picture_lost(self, event: PictureLost) -> None:
        """Said once per track, and only of the track still playing (a report that
        arrives after the chat moved on is about a picture nobody sees any more)."""
        player = self._players.get(event.chat_id)
        if player is None or player.engine_track != event.track_id:
            return
        now = player.now_playing
        title = now.track.title if now is not None else ""
        self._bus.publish(
            PictureLostAlert(chat_id=event.chat_id, track_id=event.track_id, title=title)
        )

    async def _listeners(self, chat_id: int, count: int) -> None:
        player = self._players.get(chat_id)
        if player is None:
            return
        # Under the lock: a count reported while the engine is still joining is applied
        # once the start has finished, instead of being dropped as "not streaming".
        async with player.lock:
            if player.engine_track is None:
                return  # not streaming: nobody to end, nothing to show
            if player.listeners != count:
                player.listeners = count
                self.stats.listeners(chat_id, count)
                self._bus.publish(ListenersUpdate(chat_id=chat_id, count=count))
            await self.autoend.observe(chat_id, count, streaming=True)

    async def _auto_end(self, chat_id: int) -> None:
        player = self.chat(chat_id)
        if player.engine_track is None or (player.listeners or 0) > 0:
            return
        await player.stop(EndReason.AUTO_END)
        self.stats.auto_ended(AUTO_END_REASON)

    # -- background loops ----------------------------------------------------------------

    async def check_listeners(self) -> None:
        """One poll of every streaming chat's listener count."""

        async def poll(chat_id: int) -> None:
            count = await self._engine.listeners(chat_id)
            if count is not None:
                await self._listeners(chat_id, count)

        await for_each(self.active_chats(), poll)

    async def _poll_listeners_loop(self) -> None:
        while True:
            await self._clock.sleep(self._config.participants_check_seconds)
            await self.check_listeners()

    async def _checkpoint_loop(self) -> None:
        async def checkpoint(chat_id: int) -> None:
            try:
                await self.chat(chat_id).checkpoint()
            except Fenced:
                await self.relinquish([chat_id])

        while True:
            await self._clock.sleep(self._config.checkpoint_seconds)
            await for_each(self.active_chats(), checkpoint)


if TYPE_CHECKING:  # mypy proves the manager is what the adapters depend on
    _players: type[Players] = PlayerManager
