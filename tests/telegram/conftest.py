"""Fixtures for the bot's tests: the fake Bot API, compiled catalogues, a Bot on the sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.utils.i18n import I18n

from bot.config import Settings, settings_from_mapping
from bot.telegram.dispatcher import create_bot
from bot.telegram.i18n import make_i18n
from bot.telegram.sender import Sender
from tests.support.audio import make_tone
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import TOKEN, FakeBotAPI
from tests.support.locales import compile_locales
from tests.support.media_server import MediaServer
from tests.support.tg_objects import admin, creator, user


@pytest.fixture(scope="session")
def locales_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_locales(tmp_path_factory.mktemp("locales"))


@pytest.fixture
def i18n(locales_dir: Path) -> I18n:
    return make_i18n("en", locales_dir)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


def bot_settings(api_base: str, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "telegram": {"bot_token": TOKEN, "api_base": api_base, "owners": [1]},
        "engine": {"kind": "local"},
        "web": {"enabled": False},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return settings_from_mapping(data)


@pytest.fixture
def sender() -> Sender:
    return Sender()


@pytest.fixture
async def bot(fake_api: FakeBotAPI, sender: Sender) -> AsyncIterator[Bot]:
    bot = create_bot(bot_settings(fake_api.url), sender)
    yield bot
    await sender.drain()
    await bot.session.close()


# --- the whole bot on real parts ------------------------------------------------------------
GROUP = -1001500000001
ADMIN = user(10, "Alice Admin")
MEMBER = user(20, "Bob Member")
VOICELESS_ADMIN = user(30, "Carol Voiceless")


@pytest.fixture(scope="session")
def songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Minute-long tones with title tags, so tracks stay playing through a test."""
    folder = tmp_path_factory.mktemp("songs")
    return {
        name: make_tone(folder / f"{name}.mp3", seconds=60, freq=freq, title=title)
        for name, freq, title in (
            ("a", 330, "Song Alpha"),
            ("b", 440, "Song Beta"),
            ("c", 550, "Song Gamma"),
        )
    }


@pytest.fixture
async def media(songs: dict[str, Path], short_tone: Path) -> AsyncIterator[MediaServer]:
    server = MediaServer(
        files={
            **{f"{name}.mp3": (path, "audio/mpeg") for name, path in songs.items()},
            "short.mp3": (short_tone, "audio/mpeg"),
        }
    )
    await server.start()
    yield server
    await server.close()


def script_group(api: FakeBotAPI, chat_id: int = GROUP) -> None:
    api.set_admins(
        chat_id,
        [
            creator(OWNER_OF_GROUP),
            admin(ADMIN),
            admin(VOICELESS_ADMIN, can_manage_video_chats=False),
        ],
    )


OWNER_OF_GROUP = user(5, "Group Creator")


@pytest.fixture
async def rig(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> AsyncIterator[BotRig]:
    """The bot with long polling."""
    script_group(fake_api)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir) as rig:
        yield rig


@pytest.fixture
async def fed(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> AsyncIterator[BotRig]:
    """The bot without polling: tests hand updates to ``rig.feed`` and see answers on return."""
    script_group(fake_api)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, poll=False) as rig:
        yield rig
