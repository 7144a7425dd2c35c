"""The cluster's poller (bot/cluster/polling.py) against the fake Bot API and a real Redis:
one node polls at a time, another takes over when it dies, an update fetched but not yet
claimed by a dying poller is not lost, a poller whose lease is gone stops asking Telegram,
and an update that cannot be claimed (Redis down) stays at Telegram until it can."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update
from redis.asyncio import Redis

from bot.cluster.leases import Leases, connect
from bot.cluster.polling import LEASE, LeasedPoller
from bot.telegram.claims import ClaimUnavailable, MemoryClaims, RedisClaims, UpdateClaims
from tests.support.fake_botapi import FakeBotAPI
from tests.support.tg_objects import UpdateFactory, user

TTL = 1.5
ALICE = user(10, "Alice")


@dataclass
class Nodes:
    """Pollers named like nodes, sharing one fake Telegram and one Redis."""

    api: FakeBotAPI
    redis_url: str
    handled: list[tuple[str, int]] = field(default_factory=list)
    pollers: dict[str, LeasedPoller] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _closing: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    async def start(self, name: str, claims: UpdateClaims | None = None) -> LeasedPoller:
        redis = connect(self.redis_url)  # as the node would: every command bounded
        bot = Bot(
            self.api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(self.api.url))
        )
        self._closing += [redis.aclose, bot.session.close]
        dp = Dispatcher()

        @dp.message()
        async def on_message(message: Message, event_update: Update) -> None:
            self.handled.append((name, event_update.update_id))

        poller = LeasedPoller(
            bot=bot,
            dp=dp,
            leases=Leases(redis, name, ttl=TTL),
            claims=claims or RedisClaims(redis, bot_id=1),
            ttl=TTL,
            on_polling=lambda polling: None,
            poll_timeout=1,
        )
        self.pollers[name] = poller
        self.tasks[name] = asyncio.create_task(poller.run())
        return poller

    async def die(self, name: str) -> None:
        """Like kill -9 as far as others can tell: the lease is not given back."""
        task = self.tasks.pop(name)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for name in list(self.tasks):
            self.pollers[name].stop()
            await asyncio.wait_for(self.tasks.pop(name), 10)
        for close in self._closing:
            await close()

    def push(self, count: int) -> list[int]:
        updates = UpdateFactory(self.api)
        return [self.api.push_update(updates.message(-1001, ALICE, "hello")) for _ in range(count)]

    async def until(self, found: Callable[[], bool], timeout: float = 10) -> float:
        """Seconds until ``found()`` holds."""
        begun = time.monotonic()
        async with asyncio.timeout(timeout):
            while True:
                if found():
                    return time.monotonic() - begun
                await asyncio.sleep(0.02)

    def ids(self) -> list[int]:
        return sorted(update_id for _, update_id in self.handled)


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[Nodes]:
    async with FakeBotAPI() as api:
        cluster = Nodes(api, redis_url)
        try:
            yield cluster
        finally:
            await cluster.close()


def polling(nodes: Nodes) -> list[str]:
    return [name for name, p in nodes.pollers.items() if p.polling and name in nodes.tasks]


async def test_one_node_polls_and_another_takes_over_within_the_lease(nodes: Nodes) -> None:
    await nodes.start("a")
    await nodes.start("b")
    await nodes.until(lambda: len(polling(nodes)) == 1)
    await asyncio.sleep(TTL)  # renewals keep it where it is; the other waits
    [first] = polling(nodes)
    ids = nodes.push(5)
    await nodes.until(lambda: len(nodes.handled) == 5)
    assert {name for name, _ in nodes.handled} == {first}

    await nodes.die(first)
    took = await nodes.until(lambda: len(polling(nodes)) == 1, timeout=TTL * 3)
    [second] = polling(nodes)
    assert second != first
    assert took <= TTL + TTL / 3 + 1.0  # the lease ran out, then the next try took it
    ids += nodes.push(5)
    await nodes.until(lambda: len(nodes.handled) == 10)
    await asyncio.sleep(0.3)
    assert nodes.ids() == sorted(ids)  # each once
    assert {name for name, _ in nodes.handled[5:]} == {second}


class Stalling:
    """Claims that hang at one update id: the node dies there, part-way through a batch."""

    def __init__(self, inner: UpdateClaims, stall_at: int) -> None:
        self.inner = inner
        self.stall_at = stall_at

    async def first(self, update_id: int) -> bool:
        if update_id == self.stall_at:
            await asyncio.Event().wait()
        return await self.inner.first(update_id)

    async def close(self) -> None:
        await self.inner.close()


async def test_updates_a_dying_poller_had_not_claimed_go_to_the_next(
    nodes: Nodes, redis_url: str
) -> None:
    """aiogram's polling confirms a whole batch with its next getUpdates, sent as soon as
    each update has a task; here a batch stays at Telegram until it is claimed."""
    redis = Redis.from_url(redis_url)
    try:
        ids = nodes.push(6)
        await nodes.start("a", claims=Stalling(RedisClaims(redis, bot_id=1), stall_at=ids[2]))
        await nodes.until(lambda: len(nodes.handled) == 2)
        await nodes.start("b")
        await asyncio.sleep(0.5)
        await nodes.die("a")
        await nodes.until(lambda: len(nodes.handled) == 6, timeout=TTL * 4)
        await asyncio.sleep(0.3)
        assert nodes.handled[:2] == [("a", ids[0]), ("a", ids[1])]
        assert sorted(nodes.handled[2:]) == [("b", i) for i in ids[2:]]
    finally:
        await redis.aclose()


async def test_a_poller_whose_lease_is_gone_stops_asking_telegram(
    nodes: Nodes, redis_url: str
) -> None:
    poller = await nodes.start("a")
    await nodes.until(lambda: poller.polling)
    redis = Redis.from_url(redis_url)
    try:
        # another holder (this one was paused past its lease, say)
        await redis.set(Leases.key(LEASE), "intruder|999999", px=int(TTL * 1000))
        await nodes.until(lambda: not poller.polling, timeout=TTL)
        asked = sum(path.endswith("/getUpdates") for _, path in nodes.api.requests)
        await asyncio.sleep(TTL / 2)
        assert sum(path.endswith("/getUpdates") for _, path in nodes.api.requests) == asked
        # the intruder's lease runs out: this node polls again and nothing was lost
        ids = nodes.push(2)
        await nodes.until(lambda: poller.polling, timeout=TTL * 2)
        await nodes.until(lambda: nodes.ids() == ids)
    finally:
        await redis.aclose()


class Unreachable:
    """Claims whose store does not answer the first ``times`` tries."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.inner = MemoryClaims()

    async def first(self, update_id: int) -> bool:
        if self.left:
            self.left -= 1
            raise ClaimUnavailable("redis down")
        return await self.inner.first(update_id)

    async def close(self) -> None:
        await self.inner.close()


async def test_an_update_that_cannot_be_claimed_stays_at_telegram(nodes: Nodes) -> None:
    ids = nodes.push(3)
    await nodes.start("a", claims=Unreachable(times=2))
    await nodes.until(lambda: len(nodes.handled) == 3, timeout=10)
    await asyncio.sleep(0.3)
    assert nodes.ids() == ids
