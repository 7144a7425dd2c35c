"""The one simulated voice engine: records every call and lets a test report engine events.

It stands in for Telegram's voice chat (which tests cannot reach), behind the same
``VoiceEngine`` interface as the real engines.  ``fail_next`` makes one call raise: an
``EngineError`` the player must handle, or ``tests.support.crash_points.SimulatedCrash``
for the process dying at that instant.
"""

from __future__ import annotations

import asyncio

from bot.domain.clock import Clock
from bot.engines.base import (
    CallGone,
    EngineEvent,
    EventHandler,
    ListenersChanged,
    PlayRequest,
    TrackEnded,
    TrackFailed,
)

Call = tuple[object, ...]


class FakeEngine:
    name = "fake"

    def __init__(self, *, clock: Clock | None = None, default_listeners: int = 1) -> None:
        self.calls: list[Call] = []
        self.preloaded: dict[int, PlayRequest | None] = {}
        self.streams: dict[int, PlayRequest] = {}  # chat -> what "plays" (or is paused)
        self.paused: set[int] = set()
        # chat -> (position, clock.monotonic() then): playing moves on with the clock
        self._positions: dict[int, tuple[float, float]] = {}
        self._clock = clock
        self.listener_counts: dict[int, int] = {}
        self.default_listeners = default_listeners
        self._raise: dict[str, list[BaseException]] = {}
        self._handler: EventHandler | None = None
        self.started = False
        self.in_flight = 0
        self.max_in_flight = 0

    # -- test controls -------------------------------------------------------------------

    def fail_next(self, method: str, error: BaseException) -> None:
        """The next call of ``method`` raises ``error`` (an EngineError or SimulatedCrash)."""
        self._raise.setdefault(method, []).append(error)

    def playing(self, chat_id: int) -> str | None:
        """The track id the engine holds for the chat."""
        request = self.streams.get(chat_id)
        return None if request is None else request.track_id

    def calls_of(self, chat_id: int) -> list[Call]:
        return [c for c in self.calls if c[1] == chat_id]

    def set_position(self, chat_id: int, position: float) -> None:
        """Where playback really is (drifted from what the player assumes)."""
        self._positions[chat_id] = (position, self._now())

    def _now(self) -> float:
        return 0.0 if self._clock is None else self._clock.monotonic()

    def _position_now(self, chat_id: int) -> float | None:
        if chat_id not in self._positions:
            return None
        position, since = self._positions[chat_id]
        if chat_id in self.paused:
            return position
        request = self.streams.get(chat_id)
        speed = 1.0 if request is None or request.is_live else request.speed
        return position + speed * (self._now() - since)

    async def emit(self, event: EngineEvent) -> None:
        assert self._handler is not None, "no handler: the player did not register"
        await self._handler(event)

    async def end(self, chat_id: int, track_id: str | None = None) -> str:
        """Reports the natural end of the chat's track (or of ``track_id``)."""
        ended = track_id or self.playing(chat_id)
        assert ended is not None, f"nothing plays in {chat_id}"
        if track_id is None:
            self.streams.pop(chat_id, None)
        await self.emit(TrackEnded(chat_id, ended))
        return ended

    async def fail(self, chat_id: int, message: str) -> str:
        failed = self.playing(chat_id)
        assert failed is not None, f"nothing plays in {chat_id}"
        self.streams.pop(chat_id, None)
        await self.emit(TrackFailed(chat_id, failed, message))
        return failed

    async def call_gone(self, chat_id: int, reason: str = "kicked") -> None:
        self.streams.pop(chat_id, None)
        self.paused.discard(chat_id)
        await self.emit(CallGone(chat_id, reason))

    async def set_listeners(self, chat_id: int, count: int, *, report: bool = True) -> None:
        """People join or leave; ``report=False`` is a participant update Telegram lost."""
        self.listener_counts[chat_id] = count
        if report:
            await self.emit(ListenersChanged(chat_id, count))

    # -- VoiceEngine ---------------------------------------------------------------------

    def _record(self, method: str, *args: object) -> None:
        self.calls.append((method, *args))
        errors = self._raise.get(method)
        if errors:
            raise errors.pop(0)

    def set_handler(self, handler: EventHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    async def play(self, request: PlayRequest) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._record("play", request.chat_id, request.track_id, request.position)
            await asyncio.sleep(0)  # a real join takes a while: others run meanwhile
        finally:
            self.in_flight -= 1
        self.streams[request.chat_id] = request
        self.paused.discard(request.chat_id)
        self.set_position(request.chat_id, request.position)

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """Remembered in ``preloaded``, not in ``calls`` (tests compare those exactly)."""
        self.preloaded[chat_id] = request

    async def pause(self, chat_id: int) -> None:
        self._record("pause", chat_id)
        position = self._position_now(chat_id)
        if chat_id in self.streams and position is not None:
            self.set_position(chat_id, position)
            self.paused.add(chat_id)

    async def resume(self, chat_id: int) -> None:
        self._record("resume", chat_id)
        position = self._position_now(chat_id)
        self.paused.discard(chat_id)
        if position is not None:
            self.set_position(chat_id, position)

    async def stop(self, chat_id: int) -> None:
        self._record("stop", chat_id)
        self.streams.pop(chat_id, None)
        self.paused.discard(chat_id)
        self._positions.pop(chat_id, None)

    async def set_volume(self, chat_id: int, volume: int) -> None:
        self._record("volume", chat_id, volume)

    async def seek(self, chat_id: int, position: float) -> None:
        self._record("seek", chat_id, position)
        self.set_position(chat_id, position)

    async def position(self, chat_id: int) -> float | None:
        if chat_id not in self.streams:
            return None
        return self._position_now(chat_id)

    async def listeners(self, chat_id: int) -> int | None:
        if chat_id not in self.streams:
            return None
        return self.listener_counts.get(chat_id, self.default_listeners)

    def active_chats(self) -> list[int]:
        return list(self.streams)

    async def healthy(self) -> bool:
        return self.started
