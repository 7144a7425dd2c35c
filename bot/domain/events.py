"""In-process event bus: the player publishes, the bot and the web sidecar subscribe.

Publishing never waits on a subscriber: each subscription has a bounded buffer and a
subscriber that falls behind loses its oldest events (and is told how many), so a slow
WebSocket client or a stuck handler cannot stall playback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from bot.domain.models import Track


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What the bus carries: one subclass per kind, named by ``event``.

    ``data`` is the kind's payload as plain JSON values and ``as_dict``/``to_json`` the one
    serialisation (the monitoring WebSocket's frame), so a new field is added in one class.
    """

    event: ClassVar[str]
    chat_id: int | None = None
    timestamp: float = field(default_factory=time.time)

    @property
    def data(self) -> dict[str, Any]:
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "chat_id": self.chat_id,
            "data": self.data,
            "timestamp": self.timestamp,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False)


#: track_change's placement keys for a process without pool or cluster names
NO_PLACEMENT: Final[dict[str, Any]] = {"assistant": None, "node": None}


def track_data(track: Track) -> dict[str, Any]:
    """A track as events carry it (``media`` left out: it may be a local path).

    ``kind`` is the media kind (audio / video), as the operator interface promises; where
    the track came from is ``source_kind``; ``quality`` is a video's preset (None: audio)."""
    return {
        "track_id": track.id,
        "title": track.title,
        "source": track.source,
        "kind": track.media_kind.value,
        "source_kind": track.kind.value,
        "quality": track.quality if track.is_video else None,
        "duration": track.duration,
        "requested_by": track.requested_by,
        "requested_by_name": track.requested_by_name,
        "thumbnail": track.thumbnail,
        "is_live": track.is_live,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackChange(Event):
    """A track started (``reason``: play, next, recover...) at ``position`` seconds."""

    event: ClassVar[str] = "track_change"
    chat_id: int
    track: Track
    reason: str
    position: float
    #: where the chat is served: ``{"assistant": account name, "node": node id}``
    placement: dict[str, Any] = field(default_factory=lambda: dict(NO_PLACEMENT))

    @property
    def data(self) -> dict[str, Any]:
        return {
            **track_data(self.track),
            **self.placement,
            "reason": self.reason,
            "position": self.position,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueUpdate(Event):
    """The pending list changed: its length, the first few titles, the loop mode."""

    event: ClassVar[str] = "queue_update"
    chat_id: int
    length: int
    titles: tuple[str, ...] = ()
    loop: str = "off"

    @property
    def data(self) -> dict[str, Any]:
        return {"length": self.length, "titles": list(self.titles), "loop": self.loop}


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStatus(Event):
    """playing, paused, idle (with ``reason``) or error (with ``error``, maybe ``track_id``)."""

    event: ClassVar[str] = "stream_status"
    chat_id: int
    state: str
    reason: str | None = None
    error: str | None = None
    track_id: str | None = None
    #: the failed track's title (with ``track_id``), for the chat's "could not play" line
    title: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        extra = {
            "reason": self.reason,
            "error": self.error,
            "track_id": self.track_id,
            "title": self.title,
        }
        return {"state": self.state, **{k: v for k, v in extra.items() if v is not None}}


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenersUpdate(Event):
    event: ClassVar[str] = "listeners_update"
    chat_id: int
    count: int

    @property
    def data(self) -> dict[str, Any]:
        return {"count": self.count}


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoEndWarning(Event):
    """The stream ends in ``seconds_left`` unless someone joins."""

    event: ClassVar[str] = "auto_end_warning"
    chat_id: int
    seconds_left: int

    @property
    def data(self) -> dict[str, Any]:
        return {"seconds_left": self.seconds_left}


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsUpdate(Event):
    """Machine-wide figures (no chat): ``system`` (CPU, memory) and ``streams`` totals."""

    event: ClassVar[str] = "metrics_update"
    system: dict[str, float]
    streams: dict[str, int]

    @property
    def data(self) -> dict[str, Any]:
        return {"system": dict(self.system), "streams": dict(self.streams)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemAlert(Event):
    """A part of the process went down or came back (no chat): ``component`` is storage,
    engine, ...; ``status`` is "down" or "up"; ``detail`` says what was seen."""

    event: ClassVar[str] = "system_alert"
    component: str
    status: str
    detail: str = ""

    @property
    def data(self) -> dict[str, Any]:
        return {
            "kind": "health",
            "component": self.component,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantMoved(Event):
    """An assistant-side failure (``code``: flood_wait, banned, ...) moved the chat from one
    assistant account to another; a ``system_alert`` for the chat and the monitoring."""

    event: ClassVar[str] = "system_alert"
    chat_id: int
    code: str
    source: str
    target: str

    @property
    def data(self) -> dict[str, Any]:
        return {
            "kind": "assistant_moved",
            "code": self.code,
            "from": self.source,
            "to": self.target,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureLost(Event):
    """The picture of the video track now playing stopped while its sound goes on: a
    ``system_alert`` for the chat (one line) and the monitoring."""

    event: ClassVar[str] = "system_alert"
    chat_id: int
    track_id: str
    title: str

    @property
    def data(self) -> dict[str, Any]:
        return {"kind": "picture_lost", "track_id": self.track_id, "title": self.title}


EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    TrackChange,
    QueueUpdate,
    StreamStatus,
    ListenersUpdate,
    AutoEndWarning,
    MetricsUpdate,
    SystemAlert,
    AssistantMoved,
    PictureLost,
)
EVENT_NAMES: Final = frozenset(kind.event for kind in EVENT_TYPES)


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

    def publish(self, event: Event) -> Event:
        for sub in tuple(self._subs):
            sub.offer(event)
        return event
