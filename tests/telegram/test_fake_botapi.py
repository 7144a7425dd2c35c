"""The fake Bot API itself: other suites rely on it holding polls and failing on cue."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound
from aiogram.methods import GetUpdates

from tests.support.fake_botapi import FakeBotAPI
from tests.support.tg_objects import UpdateFactory, user


async def test_get_updates_waits_for_a_pushed_update(fake_api: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot(GetUpdates(timeout=1)) == []
    assert time.monotonic() - started >= 0.9

    async def push_later() -> None:
        await asyncio.sleep(0.2)
        fake_api.push_update(UpdateFactory(fake_api).message(-1, user(7), "/help"))

    task = asyncio.create_task(push_later())
    updates = await bot(GetUpdates(timeout=10))
    await task
    assert [u.message.text for u in updates if u.message] == ["/help"]
    # confirmed with offset: gone
    assert await bot(GetUpdates(offset=updates[0].update_id + 1, timeout=0)) == []


async def test_files_and_scripted_answers(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.register_file("f1", b"ID3-bytes", "music/f1.mp3")
    file = await bot.get_file("f1")
    assert file.file_path == "music/f1.mp3"
    downloaded = await bot.download_file("music/f1.mp3")
    assert downloaded is not None
    assert downloaded.read() == b"ID3-bytes"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")

    fake_api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=-5)
    await bot.send_message(-6, "other chats are unaffected")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-5, "x")
    await bot.send_message(-5, "only once")
    assert [(c.chat_id, c.status) for c in fake_api.calls_of("sendMessage")] == [
        (-6, 200),
        (-5, 400),
        (-5, 200),
    ]
    fake_api.fail_next("getMe", 404, "Not Found")
    with pytest.raises(TelegramNotFound):
        await bot.get_me()
    link = await bot.create_chat_invite_link(-5)
    assert link.invite_link == "https://t.me/+fake5"
