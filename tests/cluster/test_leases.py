"""Leases with fencing tokens on a real redis-server: one holder at a time, expiry, tokens
that only grow, writes of a stale holder refused, the fair share among live nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.cluster.leases import FENCE_CHECK, Lease, LeaseKeeper, Leases, Nodes, fair_share


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


# a queue write as the store's scripts will do it: fenced, then written
FENCED_WRITE = (
    "#!lua\nlocal fence_key, token = KEYS[1], ARGV[1]\n"
    + FENCE_CHECK
    + "redis.call('RPUSH', KEYS[2], ARGV[2])\nreturn 1\n"
)


async def test_one_holder_tokens_grow_and_expiry_frees(redis: Redis) -> None:
    a, b = Leases(redis, "node-a", ttl=0.5), Leases(redis, "node-b", ttl=0.5)
    first = await a.acquire("a1")
    assert first is not None
    assert await b.acquire("a1") is None
    assert await a.acquire("a1") == first  # re-acquiring one's own lease extends it
    assert await a.renew(first)
    assert await a.holder("a1") == ("node-a", first.token)

    await asyncio.sleep(0.7)  # node-a stalls past its lease
    second = await b.acquire("a1")
    assert second is not None
    assert second.token > first.token
    assert not await a.renew(first)  # the stale holder learns it lost the lease
    assert not await a.release(first)  # and cannot free the new holder's lease
    assert await b.holder("a1") == ("node-b", second.token)

    assert await b.release(second)
    third = await a.acquire("a1")
    assert third is not None
    assert third.token > second.token
    assert await a.newest_token("a1") == third.token


async def test_writes_of_a_stale_holder_are_refused(redis: Redis) -> None:
    leases = Leases(redis, "node-a", ttl=5)
    write = redis.register_script(FENCED_WRITE)
    old = await leases.acquire("a1")
    assert old is not None
    fence = leases.fence_key("a1")
    assert await write(keys=[fence, "queue"], args=[old.token, "one"]) == 1
    await leases.release(old)
    new = await Leases(redis, "node-b", ttl=5).acquire("a1")
    assert new is not None
    with pytest.raises(ResponseError, match="FENCED"):
        await write(keys=[fence, "queue"], args=[old.token, "stale"])
    assert await write(keys=[fence, "queue"], args=[new.token, "two"]) == 1
    assert await redis.lrange("queue", 0, -1) == [b"one", b"two"]


def test_fair_share() -> None:
    assert [fair_share(6, n) for n in (1, 2, 3, 4, 0)] == [6, 3, 2, 2, 6]


class Node:
    def __init__(self, redis: Redis, name: str, accounts: list[str], ttl: float) -> None:
        self.using: set[str] = set()
        clock = asyncio.get_running_loop().time
        self.keeper = LeaseKeeper(
            Leases(redis, name, ttl=ttl),
            Nodes(redis, name, ttl=ttl, clock=lambda: 1_000_000 + clock()),
            accounts,
            on_gained=self.gained,
            on_lost=self.lost,
        )

    async def gained(self, lease: Lease) -> None:
        self.using.add(lease.name)

    async def lost(self, lease: Lease) -> None:
        self.using.discard(lease.name)


async def test_keepers_share_fairly_and_take_over_a_dead_node(redis: Redis) -> None:
    accounts = [f"a{i}" for i in range(6)]
    nodes = [Node(redis, f"n{i}", accounts, ttl=0.6) for i in range(3)]
    for _ in range(3):  # heartbeats first, then each settles on its share
        for node in nodes:
            await node.keeper.round()
    assert [len(n.using) for n in nodes] == [2, 2, 2]
    assert set().union(*(n.using for n in nodes)) == set(accounts)

    # n0 dies (stops renewing): within its lease the others take its accounts
    alive = nodes[1:]
    async with asyncio.timeout(5):
        while set().union(*(n.using for n in alive)) != set(accounts):
            await asyncio.sleep(0.2)
            for node in alive:
                await node.keeper.round()
    assert [len(n.using) for n in alive] == [3, 3]
    # n0 wakes: its renewals fail and it stops using everything it had
    await nodes[0].keeper.round()
    assert nodes[0].using == set()
    assert nodes[0].keeper.stats["lost"] == 2

    await alive[0].keeper.close()  # a graceful stop hands over at once
    async with asyncio.timeout(5):
        while alive[1].using != set(accounts):
            await alive[1].keeper.round()
            await asyncio.sleep(0.05)
