"""The cluster harness (tests/support/cluster_nodes.py) on two real cluster nodes sharing one
redis-server and one scratch PostgreSQL database: webhook deliveries spread by the
round-robin proxy, a duplicated delivery handled once whichever node gets each copy, a
killed node skipped by the proxy, every node's monitoring frames collected, a killed node
started again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.cluster_nodes import Cluster, assistants
from tests.support.fake_botapi import FakeBotAPI
from tests.support.tg_objects import UpdateFactory, user

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ALICE = user(10, "Alice")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def test_two_nodes_behind_the_proxy_handle_each_update_once(
    api: FakeBotAPI, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    updates = UpdateFactory(api)
    async with Cluster(
        api,
        redis_url,
        postgres_url,
        tmp_path,
        size=2,
        cluster_table="lease_seconds = 3\n",
        tables=assistants(2),
    ) as cluster:
        first, second = cluster.nodes
        chats = [1000 + i for i in range(6)]
        for i, chat in enumerate(chats):
            update = {"update_id": 9000 + chat, **updates.message(chat, ALICE, "/help")}
            # Telegram delivers the same update again (a slow answer): the next node in
            # turn gets it, and the shared dedupe ignores it (two or three deliveries, so
            # the first one lands on either node)
            for _ in range(2 + i % 2):
                assert await cluster.deliver(update) == 200
        for chat in chats:
            await api.wait_message(chat, "/play", timeout=20)
        assert {r.port for r in cluster.proxy.routed} == {first.port, second.port}
        for chat in chats:
            assert len(api.sent_texts(chat)) == 1, chat
        duplicates = [
            (await n.metrics()).get('sattva_updates_duplicate_total{intake="webhook"}', 0.0)
            for n in cluster.nodes
        ]
        assert sum(duplicates) == 6 + 3  # each copy after the first, on either node

        # every node's monitoring stream arrives, tagged with its node id
        await cluster.events.wait_for(
            lambda seen: (
                {s.node for s in seen if s.event == "metrics_update"} == {"node1", "node2"}
            ),
            timeout=30,
        )

        await first.kill()
        assert cluster.live() == [second]
        late = {"update_id": 9999, **updates.message(2000, ALICE, "/help")}
        assert await cluster.deliver_until_taken(late) == 1  # the dead node is skipped
        await api.wait_message(2000, "/play", timeout=20)

        await first.start()  # the same node again: same folder, port and id
        await first.wait_healthy()
        assert "Traceback" not in second.log()
