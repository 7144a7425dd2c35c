"""A channel linked with /channelplay runs its 24/7 video playlist in the real process
(``python -m bot``, local engine, Redis queues); kill -9 mid-clip; started again, the
channel's playlist plays on from the same clip, picture and sound, at its position, and the
rotation goes on where it was (what comes after that clip, then round to the first)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.models import NowPlaying
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.redis_queue import RedisQueueStore
from tests.support.audio import make_tone
from tests.support.bot_process import BotProcess, wait_healthy, write_config
from tests.support.fake_botapi import BOT_USER, FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.procs import child_commands, free_port
from tests.support.tg_objects import UpdateFactory, admin, creator, user
from tests.support.video import make_video

pytestmark = pytest.mark.slow

GROUP = -1001800000001
CHANNEL = -1002800000001
ALICE = user(10, "Alice")
#: the playlist: a short clip, a long clip the kill lands in, a song (sound only in any mode)
TONES = (("a.mp4", 3.0, "Tone A"), ("b.mp4", 40.0, "Tone B"), ("c.mp3", 3.0, "Tone C"))
REWIND = 1  # player.resume_rewind_seconds in this test's config
TOLERANCE = 2.5  # seconds: process start, probe and scheduling under load


@pytest.fixture
async def media(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MediaServer]:
    folder = tmp_path_factory.mktemp("channel-media")
    files = {
        name: (
            make_video(folder / name, seconds=seconds, size="320x180", fps=15, title=title)
            if name.endswith(".mp4")
            else make_tone(folder / name, seconds=seconds, title=title),
            "video/mp4" if name.endswith(".mp4") else "audio/mpeg",
        )
        for name, seconds, title in TONES
    }
    server = MediaServer(files=files)
    await server.start()
    yield server
    await server.close()


async def now_playing(store: RedisQueueStore, *, timeout: float, match: str) -> NowPlaying:
    """The channel's now-playing slot once its track's source contains ``match``."""
    deadline = time.monotonic() + timeout
    while True:
        now = await store.now_playing(CHANNEL)
        if now is not None and match in now.track.source:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError(f"{match} never played in the channel; slot: {now}")
        await asyncio.sleep(0.1)


def ffmpeg_of(pid: int, name: str) -> list[str] | None:
    """The arguments of the bot's ffmpeg that plays ``name``; None if none does."""
    for args in child_commands(pid):
        if args and "ffmpeg" in args[0] and any(name in a for a in args):
            return args
    return None


async def wait_ffmpeg(pid: int, name: str, timeout: float = 30) -> tuple[float, bool]:
    """(its ``-ss``, 0 without one; whether it decodes the picture too)."""
    deadline = time.monotonic() + timeout
    while (args := ffmpeg_of(pid, name)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no ffmpeg playing {name}: {child_commands(pid)}")
        await asyncio.sleep(0.1)
    seek = float(args[args.index("-ss") + 1]) if "-ss" in args else 0.0
    return seek, "rawvideo" in args


async def test_a_linked_channels_24_7_playlist_plays_on_after_kill_9(
    redis_url: str, tmp_path: Path, media: MediaServer
) -> None:
    urls = [media.url(f"files/{name}") for name, *_ in TONES]
    # the channel's 24/7 playlist, as an operator sets it in the panel
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'sattva.db'}")
    await migrate(db)
    settings = ChatSettingsRepo(session_factory(db))
    await settings.ensure_chat(CHANNEL, "Sattva Radio")
    await settings.set_playlist(CHANNEL, urls)
    await settings.set_always_on(CHANNEL, True)
    await settings.set_playlist_video(CHANNEL, True)
    await db.dispose()

    store = await RedisQueueStore.open(redis_url)
    async with FakeBotAPI() as api:
        api.set_admins(GROUP, [admin(ALICE)])
        api.add_channel(CHANNEL, title="Sattva Radio", username="sattva_radio")
        api.set_admins(CHANNEL, [creator(ALICE), admin(dict(BOT_USER))])
        updates = UpdateFactory(api)
        port = free_port()
        player = f"[player]\nresume_rewind_seconds = {REWIND}\ncheckpoint_seconds = 1\n"
        config = write_config(tmp_path, api, port, redis_url, extra=player)

        async def say(text: str, expect: str) -> str:
            mark = api.mark()
            api.push_update(updates.message(GROUP, ALICE, text))
            return (await api.wait_text(GROUP, expect, timeout=30, after=mark)).text

        try:
            bot = BotProcess(config, tmp_path)
            await bot.start()
            await wait_healthy(port)
            assert bot.proc is not None
            await say("/channelplay @sattva_radio", "📡 This group now drives Sattva Radio")
            await say(f"/play {urls[0]}", "Now playing: Tone A")
            # Tone A ends; 24/7 queues what follows it in the channel's playlist
            await now_playing(store, timeout=30, match="b.mp4")
            assert (await wait_ffmpeg(bot.proc.pid, "b.mp4"))[1]  # picture and sound
            await asyncio.sleep(3.0)
            assert await bot.signal(signal.SIGKILL) == -signal.SIGKILL
            killed_at = time.time()
            slot = await store.now_playing(CHANNEL)
            assert slot is not None
            assert "b.mp4" in slot.track.source
            assert slot.track.is_video
            assert slot.position_at(killed_at) > 2.0

            again = BotProcess(config, tmp_path)
            await again.start()
            await wait_healthy(port)
            assert again.proc is not None
            # the same track, in the channel, at the position it would have reached
            seek, picture = await wait_ffmpeg(again.proc.pid, "b.mp4")
            assert picture
            resumed_at = time.time()
            resumed = await store.now_playing(CHANNEL)
            assert resumed is not None
            assert resumed.track.id == slot.track.id
            expected = slot.position_at(resumed_at) - REWIND
            assert abs(seek - expected) < TOLERANCE, (seek, expected)
            assert await store.now_playing(GROUP) is None

            # the rotation carries on from Tone B: Tone C next, then round to Tone A
            await say("/skip", "Skipped")
            await now_playing(store, timeout=15, match="c.mp3")
            assert not (await wait_ffmpeg(again.proc.pid, "c.mp3"))[1]  # a song: sound only
            opener = await now_playing(store, timeout=30, match="a.mp4")
            assert opener.track.is_video
            assert await again.signal(signal.SIGTERM) == 0
        finally:
            await store.close()
    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert "Traceback" not in log
    # nothing was ever sent into the channel itself
    assert not [c for c in api.calls if c.chat_id == CHANNEL and c.method.startswith("send")]
