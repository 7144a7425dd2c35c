"""The now-playing card's picture mode and progress line, and the command menu."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.utils.i18n import I18n
from PIL import Image

from bot.domain.control import ChatSnapshot, PlayerState
from bot.domain.models import LoopMode, NowPlaying, Track
from bot.telegram.announcer import Announcer
from bot.telegram.covers import cover_png
from bot.telegram.dispatcher import set_commands
from bot.telegram.formatting import duration, parse_position, progress_bar
from bot.telegram.i18n import in_locale
from bot.telegram.views import card_text
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, script_group


@pytest.fixture
async def picture_rig(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> AsyncIterator[BotRig]:
    script_group(fake_api)
    async with BotRig.open(
        fake_api, tmp_path, redis_url, locales_dir, poll=False, bot={"now_playing_images": True}
    ) as rig:
        yield rig


async def test_picture_card_with_a_generated_cover(picture_rig: BotRig, media: MediaServer) -> None:
    rig = picture_rig
    mark = rig.api.mark()
    await rig.feed(rig.updates.message(GROUP, ADMIN, f"/play {media.url('files/a.mp3')}"))
    photo = await rig.api.wait_call("sendPhoto", chat_id=GROUP, after=mark)
    assert photo.text.startswith("▶️ Now playing: Song Alpha — 0:0")
    assert photo.params["photo"]["filename"] == "cover.png"
    assert photo.params["photo"]["size"] > 1000
    assert [t for t, _ in photo.buttons()][:3] == ["⏸ Pause", "⏭ Skip", "⏹ Stop"]
    # pausing edits the caption, not a text
    mark = rig.api.mark()
    await rig.feed(rig.updates.message(GROUP, ADMIN, "/pause"))
    caption = await rig.api.wait_call("editMessageCaption", chat_id=GROUP, after=mark)
    assert caption.text.startswith("⏸ Paused: Song Alpha")
    assert caption.buttons()[0][0] == "▶️ Resume"


def test_cover_is_a_square_png() -> None:
    image = Image.open(io.BytesIO(cover_png("A rather long title that has to wrap somewhere")))
    assert image.format == "PNG"
    assert image.size == (320, 320)
    assert cover_png("x") == cover_png("x")


async def test_progress_line_is_edited_by_the_ticker(fed: BotRig, media: MediaServer) -> None:
    mark = fed.api.mark()
    await fed.feed(fed.updates.message(GROUP, ADMIN, f"/play {media.url('files/a.mp3')}"))
    card = await fed.api.wait_call(
        "sendMessage", lambda c: "Now playing: Song Alpha —" in c.text, chat_id=GROUP, after=mark
    )
    announcer = Announcer(fed.bot, fed.services, fed.cards, fed.dp["i18n"], progress_interval=0.5)
    await announcer.start()
    try:
        edit = await fed.api.wait_call(
            "editMessageText",
            lambda c: "— 0:01 / 1:00" in c.text or "— 0:02 / 1:00" in c.text,
            chat_id=GROUP,
            after=mark,
        )
    finally:
        await announcer.close()
    assert int(edit.params["message_id"]) == card.result["message_id"]
    bar = edit.text.splitlines()[1]
    assert len(bar) == 12
    assert set(bar) <= {"▰", "▱"}


async def test_set_commands_registers_every_language(
    fake_api: FakeBotAPI, bot: Bot, i18n: I18n
) -> None:
    await set_commands(bot, i18n)
    calls = fake_api.calls_of("setMyCommands")
    assert [c.params.get("language_code") for c in calls] == [None, "en", "ru", "uk"]
    russian = {cmd["command"]: cmd["description"] for cmd in calls[2].params["commands"]}
    assert russian["queue"] == "показать очередь"
    assert russian["channelplay"] == "управлять трансляцией канала из этой группы (администраторы)"
    assert len(russian) == 25
    assert russian["speed"] == "скорость воспроизведения, 0.5-2.0 (тон не меняется)"
    assert "playlist" in russian


def test_time_formats() -> None:
    assert duration(None) == "?"
    assert duration(59.9) == "0:59"
    assert duration(3725) == "1:02:05"
    assert parse_position("1:30") == 90.0
    assert parse_position("1:02:05") == 3725.0
    assert parse_position("45") == 45.0
    assert parse_position("1:60") is None
    assert parse_position("abc") is None
    assert parse_position("-5") is None
    assert progress_bar(30, 60, width=4) == "▰▰▱▱"
    assert progress_bar(None, 60) == ""


@pytest.mark.parametrize(
    ("locale", "alone", "with_more"),
    [
        ("en", "Up next: Second", "Up next: Second (+2 more)"),
        ("ru", "Далее: Second", "Далее: Second (и ещё 2)"),
        ("uk", "Далі: Second", "Далі: Second (і ще 2)"),
    ],
)
def test_card_names_the_count_only_when_there_are_more(
    i18n: I18n, locale: str, alone: str, with_more: str
) -> None:
    def card(pending: int) -> list[str]:
        tracks = [Track(title=t, source=t, media=t) for t in ("Second", "Third", "Fourth")]
        snapshot = ChatSnapshot(
            chat_id=GROUP,
            state=PlayerState.PLAYING,
            now=NowPlaying(track=Track(title="First", source="a", media="a"), started_at=0),
            position=1.0,
            pending=tracks[:pending],
            loop=LoopMode.OFF,
            listeners=1,
            volume=100,
        )
        with in_locale(i18n, locale):
            return card_text(snapshot).splitlines()

    assert card(1)[-1] == alone
    assert card(3)[-1] == with_more
    assert not any(line.startswith(alone.split(":")[0]) for line in card(0))
