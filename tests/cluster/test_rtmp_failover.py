"""An RTMP chat in a cluster: two real nodes, one assistant account each; a group's
/vplay streams through the RTMP engine of the node that holds the chat's account, into a
real RTMP server.  kill -9 that node: once its lease runs out the other node takes the
account and pushes the same video, picture and sound, to the same address, from where it
was (RTMP chats need no assistant to stream, but one still decides which node owns them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, session_factory
from bot.storage.redis_queue import RedisQueueStore
from tests.support.cluster_nodes import Cluster, assistants
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.rtmp_server import RtmpServer
from tests.support.tg_objects import UpdateFactory, user
from tests.support.video import make_video

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

LEASE = 5.0
GROUP = -1009100000001
KEY = "live-key-91"


@pytest.fixture
async def media(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MediaServer]:
    folder = tmp_path_factory.mktemp("rtmp-cluster-media")
    clip = make_video(folder / "film.mp4", seconds=90, size="320x180", fps=15, title="Film")
    server = MediaServer(files={"film.mp4": (clip, "video/mp4")})
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def cluster(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> AsyncIterator[tuple[Cluster, FakeBotAPI]]:
    tables = assistants(2) + "[player]\ncheckpoint_seconds = 1\n"
    async with (
        FakeBotAPI() as api,
        Cluster(
            api,
            redis_url,
            postgres_url,
            tmp_path,
            size=2,
            cluster_table=f"lease_seconds = {LEASE}\n",
            tables=tables,
            events_kept=("track_change",),
        ) as nodes,
    ):
        yield nodes, api


async def arrived(server: RtmpServer, timeout: float) -> None:
    """Picture and sound reach the server and keep coming (the recording of a stream still
    going has no duration in its header yet: it is watched growing instead)."""
    deadline = time.monotonic() + timeout
    size = 0
    while True:
        if server.recording.exists() and server.streams()["kinds"] == ["audio", "video"]:
            if size and server.recording.stat().st_size > size + 20_000:
                return
            size = size or server.recording.stat().st_size
        if time.monotonic() > deadline:
            raise AssertionError(f"no stream arriving at the server: {server.streams()}")
        await asyncio.sleep(0.5)


async def test_an_rtmp_chat_streams_on_from_another_node_after_kill_9(
    media: MediaServer,
    redis_url: str,
    postgres_url: str,
    tmp_path: Path,
    cluster: tuple[Cluster, FakeBotAPI],
) -> None:
    nodes, api = cluster
    await nodes.balanced(1)
    first = RtmpServer(tmp_path / "first.flv")
    await first.start(KEY)
    # the group streams to its RTMP address (as /rtmp in a private chat sets it)
    database = create_engine(postgres_url)
    try:
        await ChatSettingsRepo(session_factory(database)).set_rtmp(GROUP, first.url, KEY)
    finally:
        await database.dispose()
    store = await RedisQueueStore.open(redis_url)
    second = RtmpServer(tmp_path / "second.flv")
    try:
        mark = api.mark()
        update = UpdateFactory(api).message(
            GROUP, user(70, "Vera"), f"/vplay {media.url('files/film.mp4')}"
        )
        update["update_id"] = 1
        assert await nodes.deliver(update) == 200
        await api.wait_text(GROUP, "Now playing", timeout=60, after=mark)
        await arrived(first, timeout=30)
        [change] = nodes.events.playing(GROUP)
        owner = nodes.node(change.node)
        slot = await store.now_playing(GROUP)
        assert slot is not None
        assert slot.track.is_video

        await owner.kill()
        killed_at = time.time()
        await first.finished()  # the publisher is gone: this server is done
        await second.start(KEY, port=first.port)  # the same address, listening again

        # another node's track change for the chat, within the lease and a renewal round
        await nodes.events.wait_for(
            lambda _seen: any(
                s.node != owner.node_id for s in nodes.events.playing(GROUP, after=killed_at)
            ),
            timeout=LEASE + 15,
        )
        await arrived(second, timeout=30)
        resumed = await store.now_playing(GROUP)
        assert resumed is not None
        assert resumed.track.id == slot.track.id  # the same film, not started over
        assert resumed.position_at(time.time()) > slot.position_at(killed_at) - 2.0
        assert resumed.position_at(time.time()) > 5.0
        assert KEY not in "".join(node.log() for node in nodes.nodes)  # the key is a secret
    finally:
        await store.close()
        await first.close()
        await second.close()
