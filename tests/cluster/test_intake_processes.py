"""Polling on real cluster nodes (tests/support/cluster_nodes.py): exactly one node polls, and
when it is killed (-9) another takes over within the lease while updates keep arriving,
with none handled twice and none lost at the intake.  (Webhook duplicates across nodes:
test_harness.py.)"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.telegram.claims import RedisClaims, bot_id_of
from tests.support.cluster_nodes import Cluster, Node, assistants
from tests.support.fake_botapi import FakeBotAPI
from tests.support.tg_objects import UpdateFactory, user

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEASE = 3.0
ASSISTANTS = assistants(2)
ALICE = user(10, "Alice")
#: private chats, one per update: /help runs where it arrives and its answer names the update
FIRST_CHAT = 700_000


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def polling_nodes(cluster: Cluster) -> list[Node]:
    found = []
    for node in cluster.live():
        if (await node.metrics()).get("sattva_polling") == 1.0:
            found.append(node)
    return found


async def wait_pollers(
    cluster: Cluster, wanted: Callable[[list[Node]], bool], timeout: float
) -> list[Node]:
    """The polling nodes (by their ``sattva_polling`` gauge), once ``wanted`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            pollers = await polling_nodes(cluster)
            if wanted(pollers):
                return pollers
            await asyncio.sleep(0.1)


async def test_the_poller_killed_mid_stream_is_replaced_and_no_update_runs_twice(
    api: FakeBotAPI, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    updates = UpdateFactory(api)
    async with Cluster(
        api,
        redis_url,
        postgres_url,
        tmp_path,
        size=2,
        mode="polling",
        cluster_table=f"lease_seconds = {LEASE}\n",
        tables=ASSISTANTS,
    ) as cluster:
        [poller] = await wait_pollers(cluster, lambda found: len(found) == 1, LEASE * 3)
        [standby] = [n for n in cluster.nodes if n is not poller]

        pushed: dict[int, int] = {}  # update id -> its private chat
        chats = itertools.count(FIRST_CHAT)

        async def push_for(seconds: float, rate: float = 10) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                chat = next(chats)
                pushed[api.push_update(updates.message(chat, ALICE, "/help"))] = chat
                await asyncio.sleep(1 / rate)

        await push_for(2)
        await poller.kill()
        killed = time.monotonic()
        pusher = asyncio.create_task(push_for(LEASE + 3))
        await wait_pollers(cluster, lambda found: found == [standby], LEASE * 3)
        took = time.monotonic() - killed
        await pusher
        await push_for(1)
        assert took <= LEASE + LEASE / 3 + 2, took  # the lease ran out, the next try took it

        # every update is answered once, except one the dead poller had claimed and was
        # handling when it died (at most once: never run again); none is lost unclaimed
        last = max(pushed)
        await api.wait_message(pushed[last], timeout=30)
        await asyncio.sleep(1)
        answers = {chat: len(api.sent_texts(chat)) for chat in pushed.values()}
        assert max(answers.values()) == 1, "an update was handled twice"
        unanswered = [u for u, chat in pushed.items() if answers[chat] == 0]
        redis = Redis.from_url(redis_url)
        try:
            claims = RedisClaims(redis, bot_id=bot_id_of(api.token))
            assert all([await claims.claimed(u) for u in unanswered]), "an update was lost"
        finally:
            await redis.aclose()
        assert len(unanswered) <= 2, unanswered
        assert "Traceback" not in standby.log()
