"""/speed in a cluster: ``OwnedPlayers`` forwards it to the node's players only while this
node holds the chat's account, and a change whose write is fenced (the lease moved) stops
this node's stream instead of playing on at a speed nobody stored.  Real Redis, real
leases and fencing, fake engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis

from bot.cluster.leases import Lease, Leases
from bot.cluster.node import ClusterNode
from bot.cluster.players import OwnedPlayers
from bot.config import SourcesConfig
from bot.domain.queue import Fenced
from bot.sources.resolver import SourceResolver
from bot.storage.database import create_engine, migrate
from bot.storage.redis_queue import RedisQueueStore
from tests.domain.conftest import CHAT, Rig, make_track
from tests.support.queue_backends import OpenStore


class Holder:
    """What ``OwnedPlayers`` asks of the node: which accounts it holds."""

    def __init__(self) -> None:
        self.held = {"a1"}
        self.adopted: dict[int, str] = {}

    def holds(self, name: str) -> bool:
        return name in self.held

    def adopt(self, chat_id: int, name: str) -> None:
        self.adopted[chat_id] = name


@pytest.fixture
async def rig(tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'sattva.db'}")
    await migrate(database)
    library = SourceResolver(SourcesConfig(ytdlp_enabled=False), max_track_seconds=3600)
    rig = Rig("redis", redis_url, library, database)
    yield rig
    await rig.players.close()
    for handle in rig.opened:
        await handle.close()
    await database.dispose()


async def test_speed_is_forwarded_to_the_owner_and_fenced_elsewhere(
    rig: Rig, redis_url: str
) -> None:
    client = Redis.from_url(redis_url)
    ours = await Leases(client, "n1", ttl=30).acquire("a1")
    assert ours is not None
    held: dict[str, Lease] = {"a1": ours}
    store = await RedisQueueStore.open(
        redis_url, fence=lambda _chat: (Leases.fence_key("a1"), held["a1"].token)
    )
    rig.opened.append(OpenStore(store, store.close))
    holder = Holder()

    async def assistant_for(chat_id: int) -> str:
        return "a1"

    try:
        players = await rig.boot(store)
        owned = OwnedPlayers(players, cast(ClusterNode, holder), assistant_for)
        await owned.play(CHAT, make_track("one"))
        assert await owned.set_speed(CHAT, 1.5) is True
        assert rig.engine.streams[CHAT].speed == 1.5
        assert holder.adopted == {CHAT: "a1"}

        # not held here: refused before anything is written or restarted
        holder.held.clear()
        with pytest.raises(Fenced):
            await owned.set_speed(CHAT, 2.0)
        assert (await rig.settings.get(CHAT)).speed == 1.5
        assert rig.engine.streams[CHAT].speed == 1.5

        # held by this node's view, but the lease moved: the checkpoint is fenced, the
        # stream here stops, and the speed stays what the chat had
        holder.held.add("a1")
        await client.delete(Leases.key("a1"))
        newer = await Leases(client, "n2", ttl=30).acquire("a1")
        assert newer is not None
        with pytest.raises(Fenced):
            await owned.set_speed(CHAT, 2.0)
        assert rig.engine.playing(CHAT) is None
        assert (await rig.settings.get(CHAT)).speed == 1.5
    finally:
        await client.aclose()
