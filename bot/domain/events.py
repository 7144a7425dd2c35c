"""In-process event bus: the player publishes, the bot and the web sidecar subscribe.

Publishing never waits on a subscriber: each subscription has a bounded buffer and a
subscriber that falls behind loses its oldest events (and is told how many), so a slow
WebSocket client or a stuck handler cannot stall playback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

EVENT_NAMES: Final = frozenset(
    {
        "track_change",
        "queue_update",
        "stream_status",
        "listeners_update",
        "auto_end_warning",
        "metrics_update",
        "system_alert",
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    chat_id: int | None
    data: dict[str, Any]
    timestamp: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "chat_id": self.chat_id,
            "data": self.data,
            "timestamp": self.timestamp,
        }


class Subscription:
    """A bounded mailbox.  Iterate it, or call ``get``; ``close`` detaches it."""

    def __init__(self, bus: EventBus, names: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self.names = names
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.names is not None and event.event not in self.names:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        return await self._queue.get()

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []

    def subscribe(self, names: Iterable[str] | None = None, *, maxsize: int = 1000) -> Subscription:
        unknown = set(names or ()) - EVENT_NAMES
        if unknown:
            raise ValueError(f"unknown event names: {', '.join(sorted(unknown))}")
        sub = Subscription(self, frozenset(names) if names is not None else None, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: str, chat_id: int | None, data: dict[str, Any]) -> Event:
        if event not in EVENT_NAMES:
            raise ValueError(f"unknown event name: {event}")
        ev = Event(event, chat_id, data)
        for sub in tuple(self._subs):
            sub.offer(ev)
        return ev

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
