"""A node whose lease moved while it was not looking (a pause, a slow renewal): its first
refused write stops that chat's stream, a command there answers "being handed over", and
the store keeps what the new holder sees.  In-process, with real Redis and real leases."""

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


@pytest.fixture
async def rig(tmp_path: Path, redis_url: str) -> AsyncIterator[Rig]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'sattva.db'}"
    database = create_engine(database_url)
    await migrate(database)
    library = SourceResolver(SourcesConfig(ytdlp_enabled=False), max_track_seconds=3600)
    rig = Rig("redis", redis_url, library, database)
    yield rig
    await rig.players.close()
    for handle in rig.opened:
        await handle.close()
    await database.dispose()


async def test_a_stale_holder_stops_at_its_first_refused_write(rig: Rig, redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    ours = await Leases(client, "n1", ttl=30).acquire("a1")
    assert ours is not None
    held: dict[str, Lease] = {"a1": ours}

    def fence(chat_id: int) -> tuple[str, int]:
        return Leases.fence_key("a1"), held["a1"].token

    store = await RedisQueueStore.open(redis_url, fence=fence)
    rig.opened.append(OpenStore(store, store.close))
    try:
        players = await rig.boot(store)
        await players.play(CHAT, make_track("one"))
        await players.play(CHAT, make_track("two"))
        assert rig.engine.playing(CHAT) is not None
        rig.events()

        # the lease expires unseen; another node takes the account (a newer token)
        await client.delete(Leases.key("a1"))
        newer = await Leases(client, "n2", ttl=30).acquire("a1")
        assert newer is not None
        assert newer.token > ours.token

        # the engine reports the end: advancing is refused, the stream stops, nothing moves
        await rig.end()
        assert rig.engine.playing(CHAT) is None
        assert ("stream_status", {"state": "idle", "reason": "handed_over"}) in rig.events()
        assert await rig.playing_title() == "one"
        assert await rig.pending_titles() == ["two"]
        # a command here is refused the same way, and changes nothing
        with pytest.raises(Fenced):
            await players.skip(CHAT)
        assert await rig.playing_title() == "one"
        # the new holder's writes pass
        held["a1"] = newer
        await players.recover([CHAT])
        assert rig.engine.playing(CHAT) is not None
    finally:
        await client.aclose()


class _Node:
    """The ownership a ``ClusterNode`` answers for ``OwnedPlayers``: the accounts held."""

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.chats: dict[int, str] = {}

    def holds(self, name: str) -> bool:
        return name in self.held

    def adopt(self, chat_id: int, name: str) -> None:
        self.chats[chat_id] = name


async def test_a_batch_is_queued_only_where_the_chat_is_owned(rig: Rig) -> None:
    """A playlist link or /playlist play (``play_many``) goes through OwnedPlayers like any
    other command: refused with nothing queued on a node that does not hold the chat's
    account, queued whole and started on the one that does."""
    players = await rig.boot()

    async def account(chat_id: int) -> str:
        return "a1"

    batch = [make_track("one"), make_track("two"), make_track("three")]
    elsewhere = OwnedPlayers(players, cast(ClusterNode, _Node("a2")), account)
    with pytest.raises(Fenced):
        await elsewhere.play_many(CHAT, batch)
    assert await rig.pending_titles() == []
    assert rig.engine.playing(CHAT) is None

    node = _Node("a1")
    owner = OwnedPlayers(players, cast(ClusterNode, node), account)
    outcome = await owner.play_many(CHAT, batch)
    assert (outcome.added, outcome.started) == (3, batch[0])
    assert node.chats == {CHAT: "a1"}
    assert await rig.playing_title() == "one"
    assert await rig.pending_titles() == ["two", "three"]
