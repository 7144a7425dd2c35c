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
from tests.support.fake_botapi import TOKEN, FakeBotAPI
from tests.support.locales import compile_locales


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
