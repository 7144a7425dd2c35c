"""Leases in Redis with fencing tokens: the ownership primitive of several processes.

An assistant account's session may be used by one process only (Telegram invalidates a
session used in two places), so each process must hold a lease on an account before it
starts that account's client, and must stop using it as soon as it cannot renew the lease.

- A lease is one key, ``<node>|<token>``, with an expiry (``PX``); the holder renews it.
  A process that dies or stalls stops renewing, the key expires, and another takes it.
- The token comes from a counter that only grows (``INCR``), one per lease name, so every
  new holder has a bigger token than every earlier one.  A write that carries its token can
  be refused when the counter has moved past it (``FENCE_CHECK``): a process paused past
  its lease (GC, SIGSTOP, a frozen VM) that wakes up and writes is refused, even though it
  still believes it holds the lease.
- Nodes announce themselves in a sorted set scored by their expiry; the live ones share the
  leases fairly, at most ``fair_share`` each.

This module is the primitive and its keeper loop; it does not decide what a lease guards.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

PREFIX = "sattva:cluster:"
#: seconds any one coordination command may take (leases, claims, streams): a Redis that
#: stops answering (paused, partitioned) must end in an error the callers already handle,
#: never in a call that hangs on; above the streams' one-second blocking reads
COMMAND_TIMEOUT = 5.0
#: the lease of the node that polls Telegram (``bot.cluster.polling``); ":" cannot appear in
#: an assistant's name, so it never collides with an assistant's lease
POLLER_LEASE = "telegram:poller"

#: a Lua fragment for scripts that write on a lease holder's behalf: ``fence_key`` (the
#: lease's counter) and ``token`` must be locals; a newer holder makes the script fail
#: before it writes anything
FENCE_CHECK = """
if tonumber(redis.call('GET', fence_key) or '0') > tonumber(token) then
  return redis.error_reply('FENCED a newer holder exists')
end
"""

# KEYS: lease, fence counter, taken-at hash; ARGV: node, ttl ms, lease name, now (ms).
# Returns the token, or -1 (held by another).  A new holder's start time is kept for the
# dashboard's lease age (renewals do not move it).
ACQUIRE = """#!lua
local current = redis.call('GET', KEYS[1])
if current then
  local node, token = string.match(current, '^(.*)|(%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return -1
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return token
"""

# KEYS: lease; ARGV: node|token, ttl ms.  1 when still ours (extended), else 0.
RENEW = """#!lua
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease; ARGV: node|token.  Deletes it only when it is still ours.
RELEASE = """#!lua
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def fair_share(leases: int, live_nodes: int) -> int:
    """How many leases one node may hold: ceil(leases / live nodes)."""
    return math.ceil(leases / max(1, live_nodes))


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    token: int


class Leases:
    """Acquire, renew and release named leases for one node."""

    #: when each lease's current holder took it (ms since the epoch), by lease name
    TAKEN_KEY = f"{PREFIX}taken"

    def __init__(
        self, redis: Redis, node: str, *, ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self.node = node
        self._clock = clock
        self.ttl_ms = max(1, int(ttl * 1000))
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)

    @staticmethod
    def key(name: str) -> str:
        return f"{PREFIX}lease:{name}"

    @staticmethod
    def fence_key(name: str) -> str:
        return f"{PREFIX}fence:{name}"

    async def acquire(self, name: str) -> Lease | None:
        token = int(
            await self._acquire(
                keys=[self.key(name), self.fence_key(name), self.TAKEN_KEY],
                args=[self.node, self.ttl_ms, name, int(self._clock() * 1000)],
            )
        )
        return None if token < 0 else Lease(name, token)

    async def renew(self, lease: Lease) -> bool:
        value = f"{self.node}|{lease.token}"
        return bool(await self._renew(keys=[self.key(lease.name)], args=[value, self.ttl_ms]))

    async def release(self, lease: Lease) -> bool:
        value = f"{self.node}|{lease.token}"
        return bool(await self._release(keys=[self.key(lease.name)], args=[value]))

    async def holder(self, name: str) -> tuple[str, int] | None:
        """(node, token) of the current holder, None when free."""
        raw = await self._redis.get(self.key(name))
        if raw is None:
            return None
        node, _, token = (raw.decode() if isinstance(raw, bytes) else str(raw)).rpartition("|")
        return node, int(token)

    async def newest_token(self, name: str) -> int:
        raw = await self._redis.get(self.fence_key(name))
        return int(raw or 0)


class Nodes:
    """Live nodes: a sorted set of node ids scored by when their heartbeat runs out."""

    KEY = f"{PREFIX}nodes"

    def __init__(self, redis: Redis, node: str, *, ttl: float, clock: Callable[[], float]) -> None:
        self._redis = redis
        self.node = node
        self._ttl = ttl
        self._clock = clock

    async def heartbeat(self) -> None:
        await self._redis.zadd(self.KEY, {self.node: self._clock() + self._ttl})

    async def live(self) -> list[str]:
        now = self._clock()
        await self._redis.zremrangebyscore(self.KEY, "-inf", now)
        members = await self._redis.zrangebyscore(self.KEY, now, "+inf")
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def leave(self) -> None:
        await self._redis.zrem(self.KEY, self.node)


Gained = Callable[[Lease], Awaitable[None]]
Lost = Callable[[Lease], Awaitable[None]]


@dataclass
class LeaseKeeper:
    """One round every ``ttl / 3``: heartbeat, renew what is held (a lease that cannot be
    renewed is reported lost at once), give back what exceeds the fair share, then take
    free leases up to it.  ``on_gained`` runs before a lease counts as held; ``on_lost``
    must stop every use of the lease (it is no longer ours)."""

    leases: Leases
    nodes: Nodes
    names: list[str]
    on_gained: Gained
    on_lost: Lost
    held: dict[str, Lease] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=lambda: {"gained": 0, "lost": 0, "released": 0})

    async def round(self) -> None:
        await self.renew()
        await self.balance()

    async def renew(self) -> None:
        """The heartbeat and every held lease renewed, all at once (kept apart from
        ``balance`` so a slow start of an account never delays the renewals)."""
        held = list(self.held.items())
        _, *renewed = await asyncio.gather(
            self.nodes.heartbeat(), *(self.leases.renew(lease) for _, lease in held)
        )
        for (name, lease), ok in zip(held, renewed, strict=True):
            if not ok and self.held.get(name) is lease:
                del self.held[name]
                self.stats["lost"] += 1
                await self.on_lost(lease)

    async def balance(self) -> None:
        """Gives back what exceeds the fair share, then takes free leases up to it."""
        share = fair_share(len(self.names), len(await self.nodes.live()))
        for name in sorted(self.held, reverse=True)[: max(0, len(self.held) - share)]:
            lease = self.held.pop(name)
            await self.on_lost(lease)  # stop using it first, then let others take it
            await self.leases.release(lease)
            self.stats["released"] += 1
        for name in self.names:
            if len(self.held) >= share:
                break
            if name in self.held:
                continue
            gained = await self.leases.acquire(name)
            if gained is None:
                continue
            try:
                await self.on_gained(gained)
            except Exception:
                await self.leases.release(gained)
                raise
            self.held[name] = gained
            self.stats["gained"] += 1

    async def close(self) -> None:
        """Gives every lease back (a graceful stop: others take over without waiting)."""
        for name in list(self.held):
            lease = self.held.pop(name)
            await self.on_lost(lease)
            await self.leases.release(lease)
        await self.nodes.leave()


def connect(url: str) -> Redis:
    """A Redis client for coordination: every command bounded by ``COMMAND_TIMEOUT``."""
    return Redis.from_url(
        url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT
    )
