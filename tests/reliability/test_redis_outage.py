"""redis-server goes away under a playing bot, and comes back.

While it is down every command that needs the queue answers the localised "storage
unavailable" sentence (no traceback, no "something went wrong"), and the track in the
LocalEngine keeps playing.  Once redis-server is back (same data directory, AOF) the very
same bot process answers again and the queue is exactly what it was.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.domain.control import PlayerState
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.procs import RedisServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, script_group

UNAVAILABLE = "Storage is unavailable, try again in a moment."

pytestmark = pytest.mark.slow


async def test_redis_outage_answers_keeps_playing_and_recovers(
    fake_api: FakeBotAPI,
    media: MediaServer,
    tmp_path: Path,
    locales_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    script_group(fake_api)
    try:
        async with BotRig.open(fake_api, tmp_path, server.url, locales_dir) as rig:
            a, b, c = (media.url(f"files/{name}.mp3") for name in "abc")
            await rig.say(GROUP, ADMIN, f"/play {a}", "▶️ Now playing: Song Alpha (1:00)")
            await rig.say(GROUP, MEMBER, f"/play {b}", "🕒 Queued #1: Song Beta (1:00)")
            before = await rig.players.snapshot(GROUP)
            assert before.now is not None

            server.stop()
            outage = rig.api.mark()
            start = await rig.engine.position(GROUP)
            for who, text in (
                (MEMBER, f"/play {c}"),
                (MEMBER, "/queue"),
                (ADMIN, "/skip"),
                (ADMIN, "/pause"),
                (ADMIN, "/end"),
            ):
                answer = await rig.say(GROUP, who, text, UNAVAILABLE, timeout=20)
                assert answer.text == UNAVAILABLE, text
            # the track never stopped: the engine still holds it and its position moved on
            await asyncio.sleep(1.0)
            later = await rig.engine.position(GROUP)
            assert start is not None
            assert later is not None
            assert later - start >= 1.0
            assert rig.engine.active_chats() == [GROUP]
            # what the chat shows now (the /play progress message was edited into the answer)
            shown = [
                rig.api.messages[(GROUP, c.result["message_id"])].text
                for c in rig.api.calls[outage:]
                if c.method == "sendMessage" and c.status == 200
            ]
            assert shown == [UNAVAILABLE] * 5

            server.start()
            # the same process, no restart: the next commands work and nothing was lost
            listing = await rig.say(GROUP, MEMBER, "/queue", "Up next", timeout=20)
            lines = listing.text.splitlines()
            assert lines[0].startswith("▶️ Now playing: Song Alpha — ")
            assert lines[1:] == ["", "Up next (1):", "1. Song Beta (1:00)"]
            await rig.say(GROUP, MEMBER, f"/play {c}", "🕒 Queued #2: Song Gamma (1:00)")
            after = await rig.players.snapshot(GROUP)
            assert after.now is not None
            assert after.now.track == before.now.track
            assert after.state is PlayerState.PLAYING
            assert [t.title for t in after.pending] == ["Song Beta", "Song Gamma"]
            assert after.pending[0] == before.pending[0]
            await rig.say(GROUP, ADMIN, "/skip", "⏭ Skipped. Now playing: Song Beta")
    finally:
        server.stop()
    # every failure was an expected one: none reached the last-resort handler as a bug
    bugs = [
        r for r in caplog.records if r.name == "bot.telegram.errors" and r.levelno >= logging.ERROR
    ]
    assert bugs == []
