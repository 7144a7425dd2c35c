"""In-memory stand-ins for the player and the queue store, used by the web tests until the
storage and player branches land (then the web tests switch to the real ones).

They keep the protocols' observable behaviour the web depends on: what ``snapshot`` and the
store return after play/skip/clear, and the bus events a real player publishes.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from bot.domain.control import ChatSnapshot, PlayerState, PlayOutcome
from bot.domain.events import EventBus
from bot.domain.models import LoopMode, NowPlaying, Track
from bot.storage.queue import AdvanceResult, QueueFull, QueuePositionError


@dataclass
class _ChatQueue:
    now: NowPlaying | None = None
    pending: list[Track] = field(default_factory=list)
    loop: LoopMode = LoopMode.OFF


class MemoryQueueStore:
    def __init__(self) -> None:
        self.chats: dict[int, _ChatQueue] = {}

    def _q(self, chat_id: int) -> _ChatQueue:
        return self.chats.setdefault(chat_id, _ChatQueue())

    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        q = self._q(chat_id)
        if len(q.pending) >= limit:
            raise QueueFull(limit)
        q.pending.append(track)
        return len(q.pending)

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        q = self._q(chat_id)
        if q.now is None and q.pending:
            q.now = NowPlaying(q.pending.pop(0), started_at=now, updated_at=now)
        return q.now

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        q = self._q(chat_id)
        if q.now is None or q.now.track.id != expected_track_id:
            return AdvanceResult(False, None, q.now)
        finished = q.now.track
        q.now = None
        if q.loop is LoopMode.TRACK and natural:
            q.pending.insert(0, finished.with_new_id())
        elif q.loop is LoopMode.QUEUE:
            q.pending.append(finished.with_new_id())
        return AdvanceResult(True, finished, await self.start_next(chat_id, now=now))

    async def now_playing(self, chat_id: int) -> NowPlaying | None:
        return self._q(chat_id).now

    async def pending(self, chat_id: int) -> list[Track]:
        return list(self._q(chat_id).pending)

    async def length(self, chat_id: int) -> int:
        return len(self._q(chat_id).pending)

    async def remove(self, chat_id: int, position: int) -> Track:
        q = self._q(chat_id)
        if not 1 <= position <= len(q.pending):
            raise QueuePositionError(position, len(q.pending))
        return q.pending.pop(position - 1)

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        q = self._q(chat_id)
        for p in (src, dst):
            if not 1 <= p <= len(q.pending):
                raise QueuePositionError(p, len(q.pending))
        track = q.pending.pop(src - 1)
        q.pending.insert(dst - 1, track)
        return track

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None:
        (rng or random.Random()).shuffle(self._q(chat_id).pending)

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        q = self._q(chat_id)
        count = len(q.pending) + (1 if include_current and q.now else 0)
        q.pending.clear()
        if include_current:
            q.now = None
        return count

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        self._q(chat_id).loop = mode

    async def get_loop(self, chat_id: int) -> LoopMode:
        return self._q(chat_id).loop

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        q = self._q(chat_id)
        if q.now is None or q.now.track.id != track_id:
            return False
        q.now = NowPlaying(q.now.track, q.now.started_at, position, now, paused)
        return True

    async def chats_with_state(self) -> list[int]:
        return [c for c, q in self.chats.items() if q.now or q.pending]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryPlayers:
    """Plays nothing; moves tracks through the store and publishes what a player would."""

    def __init__(self, store: MemoryQueueStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self.listeners: dict[int, int] = {}

    async def play(self, chat_id: int, track: Track) -> PlayOutcome:
        position = await self.store.enqueue(chat_id, track, limit=100)
        now = await self.store.start_next(chat_id, now=time.time())
        started = now is not None and now.track.id == track.id
        if started:
            self.bus.publish("track_change", chat_id, {"title": track.title})
        else:
            self.bus.publish("queue_update", chat_id, {"length": position})
        return PlayOutcome(track, started, 0 if started else position)

    async def skip(self, chat_id: int) -> NowPlaying | None:
        current = await self.store.now_playing(chat_id)
        if current is None:
            return None
        result = await self.store.advance(chat_id, current.track.id, now=time.time(), natural=False)
        self.bus.publish(
            "track_change",
            chat_id,
            {"title": result.current.track.title if result.current else None},
        )
        return result.current

    async def stop(self, chat_id: int) -> None:
        await self.store.clear(chat_id, include_current=True)
        self.bus.publish("stream_status", chat_id, {"state": "idle"})

    async def pause(self, chat_id: int) -> bool:
        return False

    async def resume(self, chat_id: int) -> bool:
        return False

    async def seek(self, chat_id: int, position: float) -> None:
        return None

    async def set_volume(self, chat_id: int, volume: int) -> None:
        return None

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        await self.store.set_loop(chat_id, mode)

    async def shuffle(self, chat_id: int) -> None:
        await self.store.shuffle(chat_id)

    async def remove(self, chat_id: int, position: int) -> Track:
        return await self.store.remove(chat_id, position)

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        return await self.store.move(chat_id, src, dst)

    async def clear(self, chat_id: int) -> int:
        removed = await self.store.clear(chat_id, include_current=False)
        self.bus.publish("queue_update", chat_id, {"length": 0})
        return removed

    async def snapshot(self, chat_id: int) -> ChatSnapshot:
        now = await self.store.now_playing(chat_id)
        return ChatSnapshot(
            chat_id=chat_id,
            state=PlayerState.PLAYING if now else PlayerState.IDLE,
            now=now,
            position=now.position_at(time.time()) if now else None,
            pending=await self.store.pending(chat_id),
            loop=await self.store.get_loop(chat_id),
            listeners=self.listeners.get(chat_id),
            volume=100,
        )

    def active_chats(self) -> list[int]:
        return [c for c, q in self.store.chats.items() if q.now is not None]
