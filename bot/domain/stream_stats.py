"""The player's bookkeeping behind the Prometheus gauges.

Totals are kept as running sums so that a change in one chat costs O(1), not a walk over
ten thousand chats.  Per-chat series exist only with ``metrics.per_chat_labels`` and are
dropped (``forget_chat``) when a chat's stream ends, so their number stays bounded by the
streams actually running.
"""

from __future__ import annotations

from bot import metrics
from bot.domain.models import EndReason, MediaKind


class StreamStats:
    def __init__(self, *, per_chat_labels: bool = False) -> None:
        self.per_chat_labels = per_chat_labels
        self._active: dict[int, MediaKind] = {}
        self._by_kind: dict[MediaKind, int] = dict.fromkeys(MediaKind, 0)
        self._listeners: dict[int, int] = {}
        self._listeners_total = 0
        self._queued: dict[int, int] = {}
        self._queued_total = 0

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
        metrics.LISTENERS.set(self._listeners_total)
        if self.per_chat_labels:
            metrics.forget_chat(chat_id)

    def listeners(self, chat_id: int, count: int) -> None:
        self._listeners_total += count - self._listeners.get(chat_id, 0)
        self._listeners[chat_id] = count
        metrics.LISTENERS.set(self._listeners_total)
        if self.per_chat_labels:
            metrics.PER_CHAT_LISTENERS.labels(str(chat_id)).set(count)

    def queue_length(self, chat_id: int, length: int) -> None:
        self._queued_total += length - self._queued.get(chat_id, 0)
        if length:
            self._queued[chat_id] = length
        else:
            self._queued.pop(chat_id, None)
        metrics.QUEUED_TRACKS.set(self._queued_total)
        metrics.QUEUE_LENGTH.observe(length)
        if self.per_chat_labels and chat_id in self._active:
            metrics.PER_CHAT_QUEUE.labels(str(chat_id)).set(length)

    def _drop(self, chat_id: int) -> None:
        kind = self._active.pop(chat_id, None)
        if kind is not None:
            self._by_kind[kind] -= 1

    def _publish_active(self) -> None:
        metrics.ACTIVE_STREAMS.set(len(self._active))
        for kind, count in self._by_kind.items():
            metrics.ACTIVE_STREAMS_BY_KIND.labels(kind.value).set(count)

    def streams(self, kind: MediaKind) -> int:
        return self._by_kind[kind]

    def video_slot_free(self, chat_id: int, limit: int) -> bool:
        """May ``chat_id`` stream video with at most ``limit`` video streams in the
        process?  Its own current video stream does not count against it."""
        own = 1 if self._active.get(chat_id) is MediaKind.VIDEO else 0
        return self._by_kind[MediaKind.VIDEO] - own < limit

    @staticmethod
    def track_started() -> None:
        metrics.TRACKS_STARTED.inc()

    @staticmethod
    def track_ended(reason: EndReason) -> None:
        metrics.TRACKS_ENDED.labels(reason.value).inc()

    @staticmethod
    def auto_ended(reason: str) -> None:
        metrics.AUTO_END.labels(reason).inc()

    @property
    def active(self) -> frozenset[int]:
        return frozenset(self._active)
