"""Prometheus metric families, defined once so every part records into the same registry.

No chat-id labels here: a label per chat is unbounded cardinality.  The opt-in per-chat
gauges (``metrics.per_chat_labels``) live in ``PER_CHAT`` and their series are removed when
a chat's stream ends (see ``forget_chat``).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import time
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

ACTIVE_STREAMS = Gauge(
    "sattva_active_streams", "Chats with a stream playing or paused", registry=REGISTRY
)
ACTIVE_STREAMS_BY_KIND = Gauge(
    "sattva_active_streams_by_kind",
    "Chats with a stream playing or paused, by media kind (audio, video)",
    ["kind"],
    registry=REGISTRY,
)
VIDEO_FRAMES = Counter(
    "sattva_video_frames_decoded", "Video frames decoded by the engines", registry=REGISTRY
)
LIVE_RESTARTS = Counter(
    "sattva_live_restarts",
    "Live sources restarted after their decoder stopped (an outage, not an end)",
    registry=REGISTRY,
)
RTMP_RECONNECTS = Counter(
    "sattva_rtmp_reconnects", "RTMP pushes reconnected after the relay ended", registry=REGISTRY
)
LISTENERS = Gauge(
    "sattva_listeners", "Listeners in all voice chats (assistant excluded)", registry=REGISTRY
)
QUEUED_TRACKS = Gauge("sattva_queued_tracks", "Pending tracks in all queues", registry=REGISTRY)
QUEUE_LENGTH = Histogram(
    "sattva_queue_length",
    "Pending queue length, observed at each queue change",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500),
    registry=REGISTRY,
)
QUEUE_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
#: the buckets' ``le`` labels as ``Histogram`` writes them (1 -> "1.0")
_LE = [repr(float(bound)) for bound in QUEUE_STORE_BUCKETS] + ["+Inf"]


class _OpTally:
    """One queue operation's figures, as plain numbers."""

    __slots__ = ("buckets", "errors", "seconds", "started")

    def __init__(self) -> None:
        self.started = 0
        self.buckets = [0] * (len(QUEUE_STORE_BUCKETS) + 1)  # the last: above every bound
        self.seconds = 0.0
        self.errors = 0


class QueueStoreMetrics(Collector):
    """The queue store families (``sattva_queue_operations``, ``_store_seconds``,
    ``_store_errors``), kept in plain numbers and turned into samples when scraped.

    Why not ``Counter`` and ``Histogram``: each of their increments takes a lock, and an
    operation made three.  In place, with the SQLite store's thread running beside the
    loop, that was ~50 us of a queue cycle's ~800 (benchmarks/README, queue_db), though
    the same calls take 2 us in a loop of their own.  Operations are counted on the event
    loop's thread; were two threads ever to race on one number, one count would be lost,
    nothing else."""

    def __init__(self) -> None:
        self._ops: dict[str, _OpTally] = {}

    def tally(self, op: str) -> _OpTally:
        found = self._ops.get(op)
        if found is None:
            found = self._ops[op] = _OpTally()
        return found

    def describe(self) -> Iterable[Metric]:
        return self._families({})

    def collect(self) -> Iterable[Metric]:
        return self._families(dict(self._ops))

    @staticmethod
    def _families(ops: dict[str, _OpTally]) -> list[Metric]:
        started = CounterMetricFamily(
            "sattva_queue_operations", "Queue store operations", labels=["op"]
        )
        seconds = HistogramMetricFamily(
            "sattva_queue_store_seconds",
            "Queue store operation latency (one Lua script or one transaction)",
            labels=["op"],
        )
        errors = CounterMetricFamily(
            "sattva_queue_store_errors",
            "Queue store operations that failed because the store could not be reached or "
            "answered wrongly (a full queue or a stale position is an answer, not an error)",
            labels=["op"],
        )
        for op, tally in sorted(ops.items()):
            started.add_metric([op], tally.started)
            cumulative = list(itertools.accumulate(tally.buckets))
            seconds.add_metric(
                [op], buckets=list(zip(_LE, cumulative, strict=True)), sum_value=tally.seconds
            )
            errors.add_metric([op], tally.errors)
        return [started, seconds, errors]


QUEUE_STORE = QueueStoreMetrics()
REGISTRY.register(QUEUE_STORE)

TRACKS_STARTED = Counter("sattva_tracks_started", "Tracks started", registry=REGISTRY)
TRACKS_ENDED = Counter("sattva_tracks_ended", "Tracks ended", ["reason"], registry=REGISTRY)
AUTO_END = Counter("sattva_auto_end", "Streams ended automatically", ["reason"], registry=REGISTRY)
SOURCE_RESOLVE_SECONDS = Histogram(
    "sattva_source_resolve_seconds",
    "Time to resolve a /play request into a playable track",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
SOURCE_FAILURES = Counter(
    "sattva_source_failures",
    "Refused or failed /play requests",
    ["kind", "reason"],
    registry=REGISTRY,
)
YTDLP_BOT_CHECKS = Counter(
    "sattva_ytdlp_bot_checks",
    "YouTube answers 'confirm you are not a bot', by whether a cookies file was sent",
    ["cookies"],  # none | file
    registry=REGISTRY,
)
YTDLP_COOKIE_FILES = Gauge(
    "sattva_ytdlp_cookie_files",
    "Files of sources.ytdlp_cookies, by state",
    ["state"],  # usable | set_aside
    registry=REGISTRY,
)
TELEGRAM_CALLS = Counter(
    "sattva_telegram_api_calls", "Bot API calls", ["method"], registry=REGISTRY
)
TELEGRAM_ERRORS = Counter(
    "sattva_telegram_api_errors", "Bot API errors", ["method", "kind"], registry=REGISTRY
)
TELEGRAM_MERGED = Counter(
    "sattva_telegram_minor_answers_merged",
    "Usage, refusal and error answers folded into one already waiting for its group's budget",
    registry=REGISTRY,
)
TELEGRAM_RETRIES = Counter(
    "sattva_telegram_429_retries",
    "Bot API calls retried after 429, 5xx or a network error",
    registry=REGISTRY,
)
ASSISTANT_STREAMS = Gauge(
    "sattva_assistant_streams",
    "Streams per assistant account of the pool",
    ["assistant"],
    registry=REGISTRY,
)
CLUSTER_NODES = Gauge(
    "sattva_cluster_nodes",
    "Live nodes of the cluster, as this node last saw them",
    registry=REGISTRY,
)
CLUSTER_LEASES = Gauge(
    "sattva_cluster_leases",
    "Assistant leases this node holds (0 or 1 per account)",
    ["assistant"],
    registry=REGISTRY,
)
CLUSTER_MOVES = Counter(
    "sattva_cluster_moves",
    "Assistant leases this node took over: from a node that died or stalled (failover) or "
    "that gave it back (rebalance); or gave back or lost (released, lost)",
    ["kind"],
    registry=REGISTRY,
)
CLUSTER_FORWARDED = Counter(
    "sattva_cluster_forwarded_updates",
    "Updates forwarded to the node that owns their chat (out) or received from another (in)",
    ["direction"],
    registry=REGISTRY,
)
ASSISTANT_MOVES = Counter(
    "sattva_assistant_moves",
    "Chats moved to another assistant account, by cause",
    ["reason"],
    registry=REGISTRY,
)
WS_CONNECTIONS = Gauge("sattva_ws_connections", "Open monitoring WebSockets", registry=REGISTRY)
WS_DROPPED = Counter(
    "sattva_ws_dropped_clients", "Monitoring clients dropped for falling behind", registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "sattva_http_requests", "Web sidecar requests", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "sattva_http_request_seconds", "Web sidecar latency", ["method", "route"], registry=REGISTRY
)

HEALTH = Gauge(
    "sattva_health",
    "1 when the part answers (bot polling, storage, engine), as /healthz saw it last; "
    "refreshed at every scrape",
    ["part"],
    registry=REGISTRY,
)
POLLING = Gauge(
    "sattva_polling", "1 while this process polls Telegram for updates", registry=REGISTRY
)
LAST_POLL = Gauge(
    "sattva_polling_last_success_timestamp_seconds",
    "When getUpdates last answered (long polling answers at least every polling timeout)",
    registry=REGISTRY,
)
UPDATES_DUPLICATE = Counter(
    "sattva_updates_duplicate",
    "Updates Telegram delivered (webhook) or returned (polling) again, already claimed by "
    "this or another process, and so not handled again",
    ["intake"],
    registry=REGISTRY,
)
POLLER_TAKEOVERS = Counter(
    "sattva_poller_takeovers",
    "Times this process took the cluster's poller lease and started polling Telegram",
    registry=REGISTRY,
)
COMMAND_SECONDS = Histogram(
    "sattva_command_seconds",
    "Time from a command's arrival to its handler's return; command is one the bot "
    "registered, or 'other'",
    ["command"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
ENGINE_FLOOD_WAITS = Counter(
    "sattva_engine_flood_waits",
    "FloodWait answers Telegram gave an assistant account",
    registry=REGISTRY,
)

# Opt-in, bounded by the number of chats actually streaming; see forget_chat.
PER_CHAT_LISTENERS = Gauge(
    "sattva_chat_listeners",
    "Listeners per chat (metrics.per_chat_labels)",
    ["chat_id"],
    registry=REGISTRY,
)
PER_CHAT_QUEUE = Gauge(
    "sattva_chat_queue_length",
    "Pending tracks per chat (metrics.per_chat_labels)",
    ["chat_id"],
    registry=REGISTRY,
)
PER_CHAT = (PER_CHAT_LISTENERS, PER_CHAT_QUEUE)


_children: dict[tuple[int, tuple[str, ...]], Any] = {}
MetricT = TypeVar("MetricT", Counter, Gauge, Histogram)


def child(metric: MetricT, *values: str) -> MetricT:
    """``metric.labels(*values)``, remembered: ``labels()`` takes a lock and builds a key on
    every call, and the hot paths (each Telegram call, each command) label by names from
    small fixed sets.  Not for series that are ever removed (the
    per-chat ones): a removed child would stay here and count unseen."""
    key = (id(metric), values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return cast(MetricT, found)


class queue_operation:  # lower case: used like the function it replaced
    """Counts, times and, when it raises ``failure``, counts as failed one store operation:
    both stores pass every operation through here, so the families mean the same on each.

    A class rather than a ``@contextmanager`` generator: it wraps every queue operation, and
    the generator's set-up is a measurable part of a Redis round trip (benchmarks/README)."""

    __slots__ = ("_failure", "_started", "_tally")

    def __init__(self, op: str, failure: type[BaseException]) -> None:
        self._failure = failure
        self._tally = QUEUE_STORE.tally(op)
        self._started = 0.0

    def __enter__(self) -> None:
        self._tally.started += 1
        self._started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        elapsed = time.perf_counter() - self._started
        tally = self._tally
        tally.buckets[bisect.bisect_left(QUEUE_STORE_BUCKETS, elapsed)] += 1  # le: <=
        tally.seconds += elapsed
        if kind is not None and issubclass(kind, self._failure):
            tally.errors += 1


def forget_chat(chat_id: int) -> None:
    """Drops a chat's per-chat series once its stream ends."""
    for gauge in PER_CHAT:
        with contextlib.suppress(KeyError):
            gauge.remove(str(chat_id))


class PrometheusSink:
    """``bot.domain.stream_stats.StatsSink`` onto the gauges above.

    ``per_chat_labels`` (``metrics.per_chat_labels``) adds the per-chat series, dropped again
    when the chat's stream ends."""

    def __init__(self, *, per_chat_labels: bool = False) -> None:
        self.per_chat_labels = per_chat_labels

    def streams(self, active: int) -> None:
        ACTIVE_STREAMS.set(active)

    def streams_by_kind(self, kind: str, count: int) -> None:
        ACTIVE_STREAMS_BY_KIND.labels(kind).set(count)

    def stream_ended(self, chat_id: int, listeners_total: int) -> None:
        LISTENERS.set(listeners_total)
        if self.per_chat_labels:
            forget_chat(chat_id)

    def listeners(self, chat_id: int, count: int, total: int) -> None:
        LISTENERS.set(total)
        if self.per_chat_labels:
            PER_CHAT_LISTENERS.labels(str(chat_id)).set(count)

    def queue_length(self, chat_id: int, length: int, total: int, *, streaming: bool) -> None:
        QUEUED_TRACKS.set(total)
        QUEUE_LENGTH.observe(length)
        if self.per_chat_labels and streaming:
            PER_CHAT_QUEUE.labels(str(chat_id)).set(length)

    def track_started(self) -> None:
        TRACKS_STARTED.inc()

    def live_restarted(self) -> None:
        LIVE_RESTARTS.inc()

    def track_ended(self, reason: str) -> None:
        TRACKS_ENDED.labels(reason).inc()

    def auto_ended(self, reason: str) -> None:
        AUTO_END.labels(reason).inc()
