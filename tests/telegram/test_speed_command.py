"""/speed through the bot: parsing and refusals, who may use it, what the card shows, and
the speed surviving a restart of the whole bot.  Real player, local engine on real ffmpeg,
Redis queue store, SQLite settings, fake Bot API."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain.models import Track
from bot.sources.base import SourceRequest
from bot.telegram.formatting import parse_speed
from tests.support.bot_rig import OWNER, BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, VOICELESS_ADMIN, script_group
from tests.telegram.test_commands import REFUSED, ask, queue_songs

USAGE = "Usage: /speed <0.5-2.0> (for example /speed 1.25); /speed alone shows the current speed."


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5", 1.5), ("0,75", 0.75), ("2x", 2.0), ("1.25×", 1.25), (" 1 ", 1.0), ("0.5", 0.5)],
)
def test_speed_as_people_type_it(text: str, value: float) -> None:
    assert parse_speed(text) == value


@pytest.mark.parametrize(
    "text", ["nan", "inf", "-1", "1e0", "fast", "1.5.5", "0x10", "", "1" * 500, "１.５"]
)
def test_not_a_plain_number(text: str) -> None:
    assert parse_speed(text) is None


async def test_bad_values_get_the_usage_line_and_change_nothing(
    fed: BotRig, media: MediaServer
) -> None:
    await queue_songs(fed, media, "a")
    plays = len(fed.engine.process_ids())
    for text in (
        "/speed 0", "/speed 3", "/speed 0.3", "/speed 2.01", "/speed nan", "/speed inf",
        "/speed -1", "/speed fast", "/speed " + "9" * 5000, "/speed 1e0", "/speed 1.5; ls",
    ):  # fmt: skip
        assert await ask(fed, ADMIN, text) == [USAGE], text[:30]
    assert (await fed.players.snapshot(GROUP)).speed == 1.0
    assert (await fed.services.chat_settings.get(GROUP)).speed == 1.0
    assert len(fed.engine.process_ids()) == plays


async def test_only_controllers_change_it_and_everyone_sees_the_answer(
    fed: BotRig, media: MediaServer
) -> None:
    await queue_songs(fed, media, "a")
    for who in (MEMBER, VOICELESS_ADMIN):
        assert await ask(fed, who, "/speed 1.5") == [REFUSED]
        assert await ask(fed, who, "/speed") == [REFUSED]
    assert (await fed.players.snapshot(GROUP)).speed == 1.0
    assert await ask(fed, ADMIN, "/speed") == ["⏩ Speed: 1×"]
    assert await ask(fed, ADMIN, "/speed 1.5") == ["⏩ Speed: 1.5×"]
    assert await ask(fed, OWNER, "/speed") == ["⏩ Speed: 1.5×"]
    assert await ask(fed, OWNER, "/speed 1,5") == ["⏩ Speed: 1.5×"]  # the same: no restart
    snap = await fed.players.snapshot(GROUP)
    assert (snap.speed, snap.now is not None and snap.now.track.title) == (1.5, "Song Alpha")
    # the card shows it, in the chat's language too
    assert any("⏩ Speed: 1.5×" in (c.text or "") for c in fed.api.calls_of("editMessageText"))
    await ask(fed, ADMIN, "/lang ru")
    assert await ask(fed, ADMIN, "/speed 2") == ["⏩ Скорость: 2×"]


async def test_the_progress_line_runs_in_track_time(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a")
    await ask(fed, ADMIN, "/speed 2")
    before = (await fed.players.snapshot(GROUP)).position
    await asyncio.sleep(1.0)
    after = (await fed.players.snapshot(GROUP)).position
    assert before is not None
    assert after is not None
    assert after - before == pytest.approx(2.0, abs=0.4)
    # the engine, which really plays at 2x, agrees within its read-ahead
    engine_position = await fed.engine.position(GROUP)
    assert engine_position is not None
    assert engine_position == pytest.approx(after, abs=0.8)


async def test_speed_survives_a_restart_of_the_bot(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path, media: MediaServer
) -> None:
    script_group(fake_api)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, poll=False) as first:
        await queue_songs(first, media, "a", "b")
        assert await ask(first, ADMIN, "/speed 0.5") == ["⏩ Speed: 0.5×"]
        await asyncio.sleep(1.0)
        stopped_at = (await first.players.snapshot(GROUP)).position
    assert stopped_at is not None
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, poll=False) as second:
        assert await second.players.recover() == 1
        snap = await second.players.snapshot(GROUP)
        assert snap.speed == 0.5
        assert snap.now is not None
        assert snap.now.track.title == "Song Alpha"
        assert [t.title for t in snap.pending] == ["Song Beta"]
        # resumed near where it stopped (less the rewind), still at half speed
        assert snap.position is not None
        assert snap.position <= stopped_at
        assert snap.position >= stopped_at - second.settings.player.resume_rewind_seconds - 0.5
        assert await ask(second, ADMIN, "/speed") == ["⏩ Speed: 0.5×"]


async def test_a_live_stream_refuses_speed_in_every_language(
    fed: BotRig, media: MediaServer
) -> None:
    track = await fed.services.resolver.resolve(SourceRequest(query=media.url("files/a.mp3")))
    assert isinstance(track, Track)
    await fed.players.play(GROUP, replace(track, is_live=True, duration=None))
    assert await ask(fed, ADMIN, "/speed 1.5") == ["A live stream always plays at normal speed."]
    assert (await fed.services.chat_settings.get(GROUP)).speed == 1.0
    await ask(fed, ADMIN, "/lang uk")
    assert await ask(fed, ADMIN, "/speed 2") == [
        "Пряма трансляція завжди грає зі звичайною швидкістю."
    ]
    assert await ask(fed, ADMIN, "/speed") == ["⏩ Швидкість: 1×"]
