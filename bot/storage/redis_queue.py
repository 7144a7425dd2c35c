"""The queue store on Redis (7 or newer): one Lua script, one round trip, per change.

Durability is Redis's: with ``appendonly yes`` a script's writes are written to the AOF
before Redis replies; ``appendfsync always`` also fsyncs them first, ``everysec`` fsyncs
once a second and so may lose the last second or two on a power cut or kernel crash (not
on a crash of redis-server alone: the kernel still holds the written pages).  See
``redis_lua`` for why each step is atomic.

The commands go through the store's own client (``redis_wire``), which never retries a
command by itself: a retried ``enqueue`` whose first reply was lost would queue the track
twice.  A failure surfaces as ``StorageUnavailable``; after a timeout (the command sent, no
reply) the operation may or may not have happened.  A cancelled call ends in
``CancelledError``; a cancelled write, like a timed-out one, may or may not have happened,
and each script is all or nothing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.domain.models import LoopMode, NowPlaying, Track, TrackList, new_track_id
from bot.domain.queue import (
    AdvanceResult,
    Checkpoint,
    EnqueuedBatch,
    Fenced,
    QueueFull,
    QueuePositionError,
    QueueSnapshot,
    StorageUnavailable,
)
from bot.metrics import queue_operation
from bot.storage import redis_lua
from bot.storage.queue_rows import Fence
from bot.storage.queue_rows import slot as decode_slot
from bot.storage.redis_wire import Arg, RedisWire

T = TypeVar("T")

KEY_PREFIX = "sattva:q:"
CHATS_KEY = KEY_PREFIX + "chats"
SOCKET_TIMEOUT_SECONDS = 5.0
#: connections open at most; a call beyond waits for a free one instead of failing, as
#: redis-py's default pool does past its 100 (hundreds of chats starting at once)
MAX_CONNECTIONS = 256
#: how long a call waits for a free connection: all of them busy means a loaded process,
#: not a dead server (that one fails at connect, at once), so this is generous
POOL_WAIT_SECONDS = 30.0
# Error replies meaning "not now" rather than "wrong": persistence failing, no replicas.
REFUSALS = ("MISCONF", "NOREPLICAS")
MIN_REDIS_MAJOR = 7  # script shebangs and flags
SLOT_FIELDS = ("track", "started_at", "position", "updated_at", "paused")
SCRIPTS = (
    "ENQUEUE",
    "ENQUEUE_MANY",
    "START_NEXT",
    "ADVANCE",
    "REMOVE",
    "REMOVE_TRACK",
    "MOVE",
    "SHUFFLE",
    "CLEAR",
    "CHECKPOINT",
    "SET_LOOP",
    "SNAPSHOT",
)
ScriptCall = tuple[Sequence[str], Sequence[Arg]]  # KEYS, ARGV


def _slot(fields: Sequence[str]) -> NowPlaying | None:
    """The five slot fields a script returns (track, started_at, position, updated_at,
    paused), or None for an empty reply."""
    if not fields:
        return None
    *rest, paused = fields
    return decode_slot([*rest, paused == "1"])


def _snapshot(reply: Sequence[Any]) -> QueueSnapshot:
    slot, items, mode = reply
    return QueueSnapshot(
        current=None if slot[0] is None else _slot(slot),
        pending=TrackList(items),
        loop=LoopMode(mode) if mode else LoopMode.OFF,
    )


def _unavailable(exc: BaseException) -> BaseException:
    """What a failed call means to the player: ``StorageUnavailable`` for "no answer" and
    "not now" (a reply that may be retried later), ``Fenced`` for a newer holder; anything
    else is returned as it is (a bug, not an outage)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return StorageUnavailable(f"redis unavailable: {exc.__class__.__name__}")
    if isinstance(exc, OutOfMemoryError | ReadOnlyError):
        return StorageUnavailable(f"redis refuses writes: {exc.__class__.__name__}")
    if isinstance(exc, ResponseError):
        if "FENCED a newer holder" in str(exc):
            return Fenced()
        if str(exc).startswith(REFUSALS):
            return StorageUnavailable(f"redis refuses writes: {exc}")
    return exc


def _server_version(info: str) -> str:
    """``redis_version`` from an INFO reply's ``name:value`` lines."""
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.partition(":")[2].strip()
    return "0"


def _flag(value: bool) -> str:
    return "1" if value else "0"


def open_wire(url: str) -> RedisWire:
    """The client the bot's hot Redis paths share the settings of (the queue store, the
    cluster's update streams); its connections open on first use."""
    return RedisWire(
        url,
        timeout=SOCKET_TIMEOUT_SECONDS,
        max_connections=MAX_CONNECTIONS,
        pool_wait=POOL_WAIT_SECONDS,
    )


class RedisQueueStore:
    """``QueueStore`` on Redis.  Keys per chat: ``sattva:q:<chat>:pending`` (list of track
    JSON), ``:now`` (hash), ``:loop`` (string); plus the set ``sattva:q:chats``."""

    def __init__(self, wire: RedisWire, *, fence: Fence | None = None) -> None:
        self._wire = wire
        self._fence = fence
        #: name -> (body, SHA1): every call sends the SHA (EVALSHA), the body only to load
        self._scripts = {
            name: (body, hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest())
            for name in SCRIPTS
            for body in [getattr(redis_lua, name)]
        }

    @classmethod
    async def open(cls, url: str, *, fence: Fence | None = None) -> RedisQueueStore:
        """Connects and loads the scripts, so that every later call is a single EVALSHA."""
        wire = open_wire(url)
        store = cls(wire, fence=fence)
        try:
            await store._guarded(store._load())
        except BaseException:
            await wire.close()
            raise
        return store

    async def _load(self) -> None:
        version = _server_version(await self._wire.call("INFO", "server"))
        if int(version.split(".")[0]) < MIN_REDIS_MAJOR:
            raise StorageUnavailable(
                f"redis {version} is too old: scripts need Redis {MIN_REDIS_MAJOR}+"
            )
        await self._wire.pipeline([("SCRIPT", "LOAD", body) for body, _ in self._scripts.values()])

    @staticmethod
    def _keys(chat_id: int) -> list[str]:
        base = f"{KEY_PREFIX}{chat_id}:"
        return [base + "pending", base + "now", base + "loop", CHATS_KEY]

    async def _guard(self, op: str, call: Awaitable[T]) -> T:
        """Every store operation passes here once: counted and its errors mapped."""
        with queue_operation(op, StorageUnavailable):
            return await self._guarded(call)

    async def _guarded(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except Exception as exc:
            mapped = _unavailable(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def _eval(self, name: str, keys: Sequence[str], argv: Sequence[Arg]) -> Any:
        (reply,) = await self._eval_many(name, [(keys, argv)])
        return reply

    async def _eval_many(self, name: str, calls: Sequence[ScriptCall]) -> list[Any]:
        """The script once per call, pipelined (each run stays atomic).  A server that lost
        its script cache (a restart) refuses every EVALSHA with NOSCRIPT without running
        it: the scripts are loaded again and the calls sent once more."""
        sha = self._scripts[name][1]
        commands = [("EVALSHA", sha, len(keys), *keys, *argv) for keys, argv in calls]
        try:
            return await self._wire.pipeline(commands)
        except NoScriptError:
            await self._load()
            return await self._wire.pipeline(commands)

    def _script_args(self, chat_id: int, *args: str | int) -> tuple[list[str], list[str | int]]:
        """KEYS and ARGV of a script run for the chat (fenced: its lease counter and token)."""
        keys, argv = self._keys(chat_id), [chat_id, *args]
        fenced = self._fence(chat_id) if self._fence is not None else None
        if fenced is not None:
            keys.append(fenced[0])
            argv.append(fenced[1])
        return keys, argv

    def _run(self, name: str, chat_id: int, *args: str | int) -> Awaitable[Any]:
        return self._eval(name.upper(), *self._script_args(chat_id, *args))

    async def _script(self, op: str, chat_id: int, *args: str | int) -> Any:
        return await self._guard(op, self._run(op, chat_id, *args))

    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        position = int(await self._script("enqueue", chat_id, track.to_json(), limit))
        if position < 0:
            raise QueueFull(limit)
        return position

    async def enqueue_many(
        self, chat_id: int, tracks: Sequence[Track], *, limit: int
    ) -> EnqueuedBatch:
        if not tracks:
            raise ValueError("an empty batch")
        payloads = [track.to_json() for track in tracks]
        first, added = await self._script("enqueue_many", chat_id, limit, *payloads)
        if int(first) < 0:
            raise QueueFull(limit)
        return EnqueuedBatch(first=int(first), added=int(added))

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        return _slot(await self._script("start_next", chat_id, repr(now)))

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        reply = await self._script(
            "advance", chat_id, expected_track_id, repr(now), _flag(natural), new_track_id()
        )
        advanced, finished = reply[0] == "1", reply[1]
        return AdvanceResult(
            advanced=advanced,
            finished=Track.from_json(finished) if advanced else None,
            current=_slot(reply[2:]),
        )

    async def now_playing(self, chat_id: int) -> NowPlaying | None:
        reply = await self._guard(
            "now_playing", self._wire.call("HMGET", self._keys(chat_id)[1], *SLOT_FIELDS)
        )
        return None if reply[0] is None else _slot(reply)

    async def pending(self, chat_id: int) -> list[Track]:
        items = await self._guard(
            "pending", self._wire.call("LRANGE", self._keys(chat_id)[0], 0, -1)
        )
        return [Track.from_json(item) for item in items]

    async def pending_and_loop(self, chat_id: int) -> tuple[list[Track], LoopMode]:
        keys = self._keys(chat_id)
        read = self._wire.transaction([("LRANGE", keys[0], 0, -1), ("GET", keys[2])])
        items, mode = await self._guard("pending_and_loop", read)  # one instant (MULTI/EXEC)
        tracks = [Track.from_json(item) for item in items]
        return tracks, LoopMode(mode) if mode else LoopMode.OFF

    async def length(self, chat_id: int) -> int:
        return int(await self._guard("length", self._wire.call("LLEN", self._keys(chat_id)[0])))

    async def remove(self, chat_id: int, position: int) -> Track:
        status, value = await self._script("remove", chat_id, position)
        if status != "ok":
            raise QueuePositionError(position, int(value))
        return Track.from_json(value)

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        reply = await self._script("remove_track", chat_id, track_id)
        return Track.from_json(reply[1]) if reply[0] == "ok" else None

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        reply = await self._script("move", chat_id, src, dst)
        if reply[0] != "ok":
            raise QueuePositionError(int(reply[1]), int(reply[2]))
        return Track.from_json(reply[1])

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None:
        """Draws the permutation here (so a seeded ``rng`` gives the same order as on the
        database store) and applies it in one script, which refuses it if the length
        changed in between; then it draws again for the new length."""
        await self._guard("shuffle", self._shuffle(chat_id, rng or random.Random()))

    async def _shuffle(self, chat_id: int, rng: random.Random) -> None:
        while True:
            length = int(await self._wire.call("LLEN", self._keys(chat_id)[0]))
            order = list(range(1, length + 1))
            rng.shuffle(order)
            if await self._run("shuffle", chat_id, length, *order):
                return

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        return int(await self._script("clear", chat_id, _flag(include_current)))

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        if self._fence is not None and self._fence(chat_id) is not None:
            await self._script("set_loop", chat_id, mode.value)  # fenced like every write
        else:
            await self._guard(
                "set_loop", self._wire.call("SET", self._keys(chat_id)[2], mode.value)
            )

    async def get_loop(self, chat_id: int) -> LoopMode:
        value = await self._guard("get_loop", self._wire.call("GET", self._keys(chat_id)[2]))
        return LoopMode(value) if value else LoopMode.OFF

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        reply = await self._script(
            "checkpoint", chat_id, track_id, repr(position), _flag(paused), repr(now)
        )
        return bool(reply)

    async def checkpoint_many(self, items: Sequence[Checkpoint]) -> int:
        """The checkpoint script once per item, pipelined (each script stays atomic)."""
        if not items:
            return 0
        calls = [
            self._script_args(
                item.chat_id, item.track_id, repr(item.position), _flag(item.paused), repr(item.now)
            )
            for item in items
        ]
        replies = await self._guard("checkpoint_many", self._eval_many("CHECKPOINT", calls))
        return sum(1 for reply in replies if reply)

    async def chats_with_state(self) -> list[int]:
        members = await self._guard("chats_with_state", self._wire.call("SMEMBERS", CHATS_KEY))
        return sorted(int(member) for member in members)

    async def load_many(self, chat_ids: Sequence[int]) -> dict[int, QueueSnapshot]:
        """The SNAPSHOT script per chat (slot, pending and loop read at one instant), one
        EVALSHA for one chat and a pipeline of them for many: one round trip either way,
        and one reply per chat to decode instead of a MULTI/EXEC's five per chat."""
        if not chat_ids:
            return {}
        if len(chat_ids) == 1:
            chat_id = chat_ids[0]
            reply = await self._guard(
                "load_many", self._eval("SNAPSHOT", self._keys(chat_id)[:3], ())
            )
            return {chat_id: _snapshot(reply)}
        calls = [(self._keys(chat_id)[:3], ()) for chat_id in chat_ids]
        replies = await self._guard("load_many", self._eval_many("SNAPSHOT", calls))
        return {chat_id: _snapshot(reply) for chat_id, reply in zip(chat_ids, replies, strict=True)}

    async def raise_fence(self, name: str, token: int) -> None:
        """Nothing to record here: a lease's fence is its own counter in this Redis, which
        taking the lease raised (``bot.cluster.leases``); the scripts read it directly."""

    async def ping(self) -> None:
        await self._guard("ping", self._wire.call("PING"))

    async def close(self) -> None:
        await self._wire.close()
