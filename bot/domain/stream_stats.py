"""The player's running figures: streams, listeners and queued tracks, per chat and in total.

Totals are kept as running sums so that a change in one chat costs O(1), not a walk over
ten thousand chats.  The figures are read here (``streams``, ``listeners_total``,
``queued_total``: the monitoring feed asks for them) and every change is also handed to a
``StatsSink``; the app's sink is Prometheus (``bot.metrics.PrometheusSink``), which the
domain does not import.
"""

from __future__ import annotations

from typing import Protocol

from bot.domain.models import EndReason, MediaKind


class StatsSink(Protocol):
    """Receives every change together with the new totals."""

    def streams(self, active: int) -> None: ...

    def streams_by_kind(self, kind: str, count: int) -> None:
        """Streams of one media kind (``audio``, ``video``): a bounded label."""

    def stream_ended(self, chat_id: int, listeners_total: int) -> None:
        """The chat's stream ended: its listeners left the total, its own series go."""

    def listeners(self, chat_id: int, count: int, total: int) -> None: ...

    def queue_length(self, chat_id: int, length: int, total: int, *, streaming: bool) -> None: ...

    def track_started(self) -> None: ...

    def live_restarted(self) -> None:
        """A live source stopped and is restarted (``bot.domain.live``)."""

    def track_ended(self, reason: str) -> None: ...

    def auto_ended(self, reason: str) -> None: ...


class NoSink:
    """A sink that records nothing (a player without metrics)."""

    def streams(self, active: int) -> None:
        pass

    def streams_by_kind(self, kind: str, count: int) -> None:
        pass

    def stream_ended(self, chat_id: int, listeners_total: int) -> None:
        pass

    def listeners(self, chat_id: int, count: int, total: int) -> None:
        pass

    def queue_length(self, chat_id: int, length: int, total: int, *, streaming: bool) -> None:
        pass

    def track_started(self) -> None:
        pass

    def live_restarted(self) -> None:
        pass

    def track_ended(self, reason: str) -> None:
        pass

    def auto_ended(self, reason: str) -> None:
        pass


class StreamStats:
    def __init__(self, sink: StatsSink | None = None) -> None:
        self._sink: StatsSink = NoSink() if sink is None else sink
        self._active: dict[int, MediaKind] = {}
        self._by_kind: dict[MediaKind, int] = dict.fromkeys(MediaKind, 0)
        self._listeners: dict[int, int] = {}
        self._listeners_total = 0
        self._queued: dict[int, int] = {}
        self._queued_total = 0

    @property
    def streams(self) -> int:
        """Chats with a stream playing or paused."""
        return len(self._active)

    def streams_of(self, kind: MediaKind) -> int:
        return self._by_kind[kind]

    def kind_of(self, chat_id: int) -> MediaKind | None:
        """What the chat streams now (None: nothing)."""
        return self._active.get(chat_id)

    def video_slot_free(self, chat_id: int, limit: int) -> bool:
        """May ``chat_id`` stream video with at most ``limit`` video streams in the
        process?  Its own current video stream does not count against it."""
        own = 1 if self._active.get(chat_id) is MediaKind.VIDEO else 0
        return self._by_kind[MediaKind.VIDEO] - own < limit

    @property
    def listeners_total(self) -> int:
        return self._listeners_total

    @property
    def queued_total(self) -> int:
        return self._queued_total

    def stream_started(self, chat_id: int, kind: MediaKind = MediaKind.AUDIO) -> None:
        """Called at every track start: the chat's kind follows its current track."""
        self._drop(chat_id)
        self._active[chat_id] = kind
        self._by_kind[kind] += 1
        self._publish_active()

    def stream_ended(self, chat_id: int) -> None:
        self._drop(chat_id)
        self._publish_active()
        self._listeners_total -= self._listeners.pop(chat_id, 0)
        self._sink.stream_ended(chat_id, self._listeners_total)

    def listeners(self, chat_id: int, count: int) -> None:
        self._listeners_total += count - self._listeners.get(chat_id, 0)
        self._listeners[chat_id] = count
        self._sink.listeners(chat_id, count, self._listeners_total)

    def queue_length(self, chat_id: int, length: int) -> None:
        self._queued_total += length - self._queued.get(chat_id, 0)
        if length:
            self._queued[chat_id] = length
        else:
            self._queued.pop(chat_id, None)
        self._sink.queue_length(
            chat_id, length, self._queued_total, streaming=chat_id in self._active
        )

    def _drop(self, chat_id: int) -> None:
        kind = self._active.pop(chat_id, None)
        if kind is not None:
            self._by_kind[kind] -= 1

    def _publish_active(self) -> None:
        self._sink.streams(len(self._active))
        for kind, count in self._by_kind.items():
            self._sink.streams_by_kind(kind.value, count)

    def track_started(self) -> None:
        self._sink.track_started()

    def live_restarted(self) -> None:
        self._sink.live_restarted()

    def track_ended(self, reason: EndReason) -> None:
        self._sink.track_ended(reason.value)

    def auto_ended(self, reason: str) -> None:
        self._sink.auto_ended(reason)
