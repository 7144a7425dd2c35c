"""The cluster as the dashboard shows it: nodes, the assistant leases each holds, the chats
of each assistant and how long each lease has left.

Read-only, from the same data the nodes coordinate through: the node set and the lease
keys in Redis (``bot.cluster.leases``), the chat-to-assistant assignments in the database
and the chats the queue store holds.  Nothing here goes through a node's handlers or its
in-memory state, so any node (or a node whose web is the only one enabled) shows the
whole cluster.  With ``[cluster] enabled = false`` there is one node, this process, which
holds every configured assistant without a lease.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cluster.leases import POLLER_LEASE, Leases, Nodes, connect
from bot.config import Settings
from bot.domain.control import Players
from bot.storage.assignments import AssignmentRepo

#: what a lease key's name looks like for an assistant (``a1`` or ``assistant:a1``)
ASSISTANT_PREFIXES = ("", "assistant:")
#: leases read at most (a cluster has a handful of assistants; this bounds a stray keyspace)
MAX_LEASES = 1000


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    name: str
    node: str
    token: int
    #: seconds until it runs out unless renewed (None: no expiry, or not known)
    expires_in: float | None
    #: seconds since its holder took it (None: taken before this was recorded)
    held_for: float | None = None


@dataclass(slots=True)
class AssistantInfo:
    name: str
    #: the node using it (None: free, nobody holds its lease)
    node: str | None
    lease: LeaseInfo | None
    chats: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        lease = self.lease
        return {
            "name": self.name,
            "node": self.node,
            "token": lease.token if lease else None,
            "lease_expires_in": lease.expires_in if lease else None,
            "lease_held_for": lease.held_for if lease else None,
            "chats": self.chats,
        }


@dataclass(slots=True)
class NodeInfo:
    node: str
    #: seconds until its heartbeat runs out (None: one process, no heartbeat)
    expires_in: float | None
    this: bool
    assistants: list[str] = field(default_factory=list)
    chats: int = 0
    #: holds the poller lease (takes updates from Telegram); None: one process, no lease
    poller: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "expires_in": self.expires_in,
            "this": self.this,
            "assistants": self.assistants,
            "chats": self.chats,
            "poller": self.poller,
        }


Assignments = Callable[[Sequence[int]], Awaitable[dict[int, str]]]
ChatsWithState = Callable[[], Awaitable[list[int]]]


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def assistant_of_lease(lease: str, assistants: Sequence[str]) -> str | None:
    """The assistant a lease guards, when its name says so."""
    for prefix in ASSISTANT_PREFIXES:
        if lease.startswith(prefix) and lease[len(prefix) :] in assistants:
            return lease[len(prefix) :]
    return None


async def read_leases(redis: Redis, now: float) -> tuple[dict[str, float], list[LeaseInfo]]:
    """Live nodes (id -> seconds of heartbeat left) and every lease key, from Redis."""
    scored = cast(
        list[tuple[bytes | str, float]],
        await redis.zrangebyscore(Nodes.KEY, now, "+inf", withscores=True),
    )
    nodes = {_text(member): float(score) - now for member, score in scored}
    names: list[str] = []
    lease_prefix = Leases.key("")
    async for key in redis.scan_iter(match=f"{lease_prefix}*", count=200):
        names.append(_text(key)[len(lease_prefix) :])
        if len(names) >= MAX_LEASES:
            break
    leases: list[LeaseInfo] = []
    if names:
        pipe = redis.pipeline(transaction=False)
        for name in names:
            pipe.get(Leases.key(name))
            pipe.pttl(Leases.key(name))
            pipe.hget(Leases.TAKEN_KEY, name)
        replies = await pipe.execute()
        for i, name in enumerate(names):
            value, pttl, taken = replies[3 * i], int(replies[3 * i + 1]), replies[3 * i + 2]
            if value is None:  # expired between the scan and the read
                continue
            node, _, token = _text(value).rpartition("|")
            left = None if pttl < 0 else pttl / 1000
            held = None if taken is None else max(0.0, now - int(taken) / 1000)
            leases.append(
                LeaseInfo(name=name, node=node, token=int(token), expires_in=left, held_for=held)
            )
        leases.sort(key=lambda lease: lease.name)
    return nodes, leases


class ClusterView:
    """``state()`` is the dashboard's cluster section."""

    def __init__(
        self,
        *,
        node: str,
        assistants: Sequence[str],
        assignments: Assignments,
        chats_with_state: ChatsWithState,
        redis: Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.assistants = list(assistants)
        self._assignments = assignments
        self._chats_with_state = chats_with_state
        self._redis = redis
        self._clock = clock

    async def state(self) -> dict[str, Any]:
        chats = sorted(await self._chats_with_state())
        assigned = await self._assignments(chats)
        if self._redis is None:
            nodes = {self.node: NodeInfo(self.node, None, True)}
            infos = {a: AssistantInfo(a, self.node, None) for a in self.assistants}
        else:
            alive, leases = await read_leases(self._redis, self._clock())
            nodes = {
                n: NodeInfo(n, left, n == self.node, poller=False) for n, left in alive.items()
            }
            infos = {a: AssistantInfo(a, None, None) for a in self.assistants}
            for lease in leases:
                if lease.name == POLLER_LEASE:  # not an assistant: a node's role
                    holder = NodeInfo(lease.node, None, lease.node == self.node, poller=False)
                    nodes.setdefault(lease.node, holder).poller = True
                    continue
                name = assistant_of_lease(lease.name, self.assistants) or lease.name
                info = infos.setdefault(name, AssistantInfo(name, None, None))
                info.node, info.lease = lease.node, lease
                # a holder whose heartbeat ran out still shows: its lease has not, yet
                nodes.setdefault(
                    lease.node, NodeInfo(lease.node, None, lease.node == self.node, poller=False)
                )
        unassigned: list[int] = []
        per_assistant: dict[str, list[int]] = defaultdict(list)
        for chat in chats:
            owner = assigned.get(chat)
            if owner is None:
                unassigned.append(chat)
            else:
                per_assistant[owner].append(chat)
        for name, ids in per_assistant.items():
            infos.setdefault(name, AssistantInfo(name, None, None)).chats = ids
        for info in infos.values():
            if info.node is not None and info.node in nodes:
                nodes[info.node].assistants.append(info.name)
                nodes[info.node].chats += len(info.chats)
        if self._redis is None:
            nodes[self.node].chats += len(unassigned)
        return {
            "mode": "single" if self._redis is None else "cluster",
            "this_node": self.node,
            "nodes": [nodes[n].as_dict() for n in sorted(nodes)],
            "assistants": [infos[a].as_dict() for a in sorted(infos)],
            "unassigned_chats": unassigned,
            "chats_total": len(chats),
        }

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


def cluster_view(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], players: Players
) -> ClusterView:
    """The view a process builds for its own dashboard: Redis is read only in cluster mode
    (one process has no leases to show; it holds every assistant itself)."""
    redis = None
    if settings.cluster.enabled and settings.storage.redis_url:
        redis = connect(settings.storage.redis_url)
    return ClusterView(
        node=settings.node_id(),
        assistants=[entry.name for entry in settings.assistant_pool()],
        assignments=AssignmentRepo(sessions).of_chats,
        chats_with_state=players.chats_with_state,
        redis=redis,
    )
