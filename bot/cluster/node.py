"""One cluster node: holds assistant leases, runs only those accounts, fences its writes.

What a lease means here (``bot.cluster.leases`` is the primitive):

- **Taken** (``_gained``): the lease's token is recorded with the queue store (PostgreSQL
  keeps it in ``cluster_fences``; Redis reads the lease's own counter), then the account's
  engine starts, its update stream is served (``bot.cluster.routing``) and, in the
  background, its chats are recovered from the store and resume at their positions.
- **Lost or given back** (``_lost``): the chats' streams stop at once, with no store write
  (the store belongs to the new holder), and the account's engine closes.
- **Every queue write** of a chat carries the token of the chat's account (``fence``); a
  chat whose account this node does not hold carries token 0 and is refused.  So a node
  paused past its lease (SIGSTOP, a frozen VM) that wakes up cannot change a queue: the
  write fails and the player stops that stream, and the next keeper round finds the lease
  gone and stops the rest.

A failover (a lease taken from a node that never gave it back) is published as a
``system_alert`` with ``component = "cluster"`` and counted in ``sattva_cluster_moves``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.cluster.leases import PREFIX, Lease, LeaseKeeper, Leases, Nodes
from bot.domain.events import EventBus, SystemAlert
from bot.domain.manager import PlayerManager
from bot.domain.queue import QueueError
from bot.engines.leased_pool import LeasedPool
from bot.metrics import CLUSTER_LEASES, CLUSTER_MOVES, CLUSTER_NODES

log = logging.getLogger(__name__)

#: who held each lease last and did not give it back (empty: given back)
LAST_HOLDER = PREFIX + "last:"


@runtime_checkable
class FenceStore(Protocol):
    async def raise_fence(self, name: str, token: int) -> None: ...

    async def chats_with_state(self) -> list[int]: ...


class ChatsOf(Protocol):
    async def chats_of(self, assistant: str) -> list[int]: ...


#: starts / stops serving an account's update stream (``bot.cluster.routing``)
StreamHook = Callable[[str], Awaitable[None]]


@dataclass
class ClusterNode:
    """Wires the lease keeper to the pool, the players and the store; see the module doc."""

    redis: Redis
    node: str
    names: list[str]
    ttl: float
    pool: LeasedPool
    players: PlayerManager
    store: FenceStore
    assignments: ChatsOf
    bus: EventBus
    #: the chats known to be on each account this node holds (recovered or routed here)
    chats: dict[int, str] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    live: list[str] = field(default_factory=list)
    moves: dict[str, int] = field(
        default_factory=lambda: {"failover": 0, "rebalance": 0, "released": 0, "lost": 0}
    )
    serve: StreamHook | None = None
    unserve: StreamHook | None = None

    def __post_init__(self) -> None:
        self.leases = Leases(self.redis, self.node, ttl=self.ttl)
        self.nodes = Nodes(self.redis, self.node, ttl=self.ttl, clock=time.time)
        self.keeper = LeaseKeeper(
            self.leases, self.nodes, list(self.names), self._gained, self._lost
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._recoveries: dict[str, asyncio.Task[None]] = {}
        self._last_ok = time.monotonic()

    # -- what the store and the router ask -------------------------------------------------

    def fence(self, chat_id: int) -> tuple[str, int] | None:
        """The chat's write token: its account's lease token here, 0 when this node does
        not hold that account (refused), None for a chat not known to any account yet."""
        name = self.pool.assistant_of(chat_id) or self.chats.get(chat_id)
        if name is None:
            return None
        return Leases.fence_key(name), self.tokens.get(name, 0)

    def assistant_of(self, chat_id: int) -> str | None:
        """The account streaming the chat here (None: not streaming here)."""
        return self.pool.assistant_of(chat_id)

    def holds(self, name: str) -> bool:
        return name in self.tokens

    def adopt(self, chat_id: int, name: str) -> None:
        """The chat is served here, on ``name`` (the router found it so)."""
        self.chats[chat_id] = name

    def status(self) -> dict[str, Any]:
        """For /healthz: this node, the live ones, the leases held here, the moves."""
        return {
            "node": self.node,
            "nodes": list(self.live),
            "leases": sorted(self.tokens),
            "moves": dict(self.moves),
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Announces the node and takes its first leases before returning (so the chats of
        the accounts taken start recovering), then keeps them in the background: renewals
        every third of the lease in one task, taking and giving back in another, so that
        starting an account (slow) never delays a renewal."""
        await self._step(self.keeper.round)
        self._tasks = [
            asyncio.create_task(self._every(self.keeper.renew), name="cluster-renew"),
            asyncio.create_task(self._every(self.keeper.balance), name="cluster-balance"),
        ]

    async def close(self) -> None:
        """Gives every lease back so the others take over at once (a graceful stop)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.keeper.close()
        except (RedisError, OSError) as exc:
            log.warning("cluster: leases not given back (%s); they expire", exc)
            for name in list(self.tokens):
                await self._stop_using(name)
        await self.redis.aclose()

    async def _every(self, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self._step(step)

    async def _step(self, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
            if step != self.keeper.balance:  # renewed
                self._last_ok = time.monotonic()
            if step != self.keeper.renew:
                self.live = await self.nodes.live()
                CLUSTER_NODES.set(len(self.live))
        except (RedisError, OSError) as exc:
            # unrenewed for a whole lease: another node may hold them now, stop using them
            stale = time.monotonic() - self._last_ok >= self.ttl
            log.warning("cluster: lease step failed (%s)%s", exc, "; leases lost" if stale else "")
            if stale:
                for name in list(self.keeper.held):
                    del self.keeper.held[name]
                    self.moves["lost"] += 1
                    CLUSTER_MOVES.labels("lost").inc()
                    await self._stop_using(name)
        except Exception:
            log.exception("cluster: lease step failed")

    # -- the keeper's callbacks ------------------------------------------------------------

    async def _gained(self, lease: Lease) -> None:
        """The quick part, before the lease counts as held: its token goes to the store's
        fence and to this node's writes.  Starting the account and its chats runs in the
        background (``_take_up``): the lease is renewed meanwhile."""
        name = lease.name
        await self.store.raise_fence(Leases.fence_key(name), lease.token)
        previous = await self.redis.getset(LAST_HOLDER + name, self.node)
        self.tokens[name] = lease.token
        CLUSTER_LEASES.labels(name).set(1)
        self._recoveries[name] = asyncio.create_task(
            self._take_up(lease, previous.decode() if isinstance(previous, bytes) else previous),
            name=f"take-up-{name}",
        )

    async def _take_up(self, lease: Lease, previous: str | None) -> None:
        """Starts the account, serves its update stream, resumes its chats at their stored
        positions; an account that cannot start is given back for another node to try."""
        name = lease.name
        try:
            await self.pool.attach(name)
        except Exception as exc:
            log.error("cluster: assistant %s cannot start here: %s; lease given back", name, exc)
            if self.keeper.held.get(name) is lease:
                del self.keeper.held[name]
            self.tokens.pop(name, None)
            CLUSTER_LEASES.labels(name).set(0)
            with contextlib.suppress(RedisError, OSError):
                await self.leases.release(lease)
            return
        if self.serve is not None:
            await self.serve(name)
        if previous and previous != self.node:
            self.moves["failover"] += 1
            CLUSTER_MOVES.labels("failover").inc()
            log.warning("cluster: assistant %s taken over from node %s", name, previous)
            self.bus.publish(
                SystemAlert(
                    component="cluster",
                    status="failover",
                    detail=f"assistant {name}: node {previous} -> {self.node}",
                )
            )
        elif previous is not None:
            self.moves["rebalance"] += 1
            CLUSTER_MOVES.labels("rebalance").inc()
        await self._recover(name)

    async def _recover(self, name: str) -> None:
        """Resumes the account's chats at their stored positions."""
        try:
            chats = await self.assignments.chats_of(name)
            for chat_id in chats:
                self.chats.setdefault(chat_id, name)
            restored = await self.players.recover(chats)
            log.info("cluster: assistant %s: %d of %d chats resumed", name, restored, len(chats))
        except QueueError as exc:
            log.warning("cluster: chats of %s not recovered: %s", name, exc)
        except Exception:
            log.exception("cluster: chats of %s not recovered", name)

    async def _lost(self, lease: Lease) -> None:
        """Lost (not renewed) or given back (fair share, graceful stop): the keeper gives a
        lease back only after this returns, so one still ours in Redis is being given back."""
        await self._stop_using(lease.name)
        try:
            ours = await self.leases.holder(lease.name) == (self.node, lease.token)
            if ours:  # the next holder takes it over without a failover alert
                await self.redis.set(LAST_HOLDER + lease.name, "")
        except (RedisError, OSError):
            ours = False
        kind = "released" if ours else "lost"
        self.moves[kind] += 1
        CLUSTER_MOVES.labels(kind).inc()

    async def _stop_using(self, name: str) -> None:
        """Stops everything the account's lease allowed, writing nothing."""
        self.tokens.pop(name, None)
        CLUSTER_LEASES.labels(name).set(0)
        recovery = self._recoveries.pop(name, None)
        if recovery is not None:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery
        if self.unserve is not None:
            await self.unserve(name)
        chats = {c for c, account in self.chats.items() if account == name}
        chats.update(self.pool.chats_on(name))
        stopped = await self.players.relinquish(chats)
        for chat_id in chats:
            self.chats.pop(chat_id, None)
        await self.pool.detach(name)
        log.warning("cluster: assistant %s no longer held here; %d streams stopped", name, stopped)
