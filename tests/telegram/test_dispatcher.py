"""A stop lets the updates being handled finish before what they use is closed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Router
from aiogram.types import Message

from bot.telegram.dispatcher import SattvaDispatcher
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.telegram.conftest import GROUP, MEMBER


def update(update_id: int) -> dict[str, Any]:
    chat = {"id": GROUP, "type": "supergroup", "title": "G"}
    message = {"message_id": update_id, "date": 0, "chat": chat, "from": MEMBER, "text": "hi"}
    return {"update_id": update_id, "message": message}


def blocked_dispatcher(
    gate: asyncio.Event, started: asyncio.Event, done: list[int]
) -> SattvaDispatcher:
    router = Router()

    async def handler(message: Message) -> None:
        started.set()
        await gate.wait()
        done.append(message.message_id)

    router.message.register(handler)
    dp = SattvaDispatcher()
    dp.include_router(router)
    return dp


async def test_drain_waits_for_the_updates_being_handled() -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    done: list[int] = []
    dp = blocked_dispatcher(gate, started, done)
    bot = Bot("42:TEST")
    handling = asyncio.create_task(dp.feed_raw_update(bot, update(7)))
    await asyncio.wait_for(started.wait(), 5)
    drain = asyncio.create_task(dp.drain(timeout=5))
    await asyncio.sleep(0.2)
    assert not drain.done()  # the handler is still at its gate
    gate.set()
    await asyncio.wait_for(drain, 5)
    assert done == [7]
    assert handling.done()


async def test_drain_cuts_off_a_handler_past_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    done: list[int] = []
    dp = blocked_dispatcher(gate, started, done)
    handling = asyncio.create_task(dp.feed_raw_update(Bot("42:TEST"), update(8)))
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.WARNING, "bot.telegram.dispatcher"):
        await asyncio.wait_for(dp.drain(timeout=0.2), 5)
    assert handling.cancelled()
    assert done == []
    assert "1 update(s) still being handled" in caplog.text


async def test_drain_with_nothing_in_flight_returns_at_once() -> None:
    dp = SattvaDispatcher()
    await asyncio.wait_for(dp.drain(timeout=60), 1)


async def test_a_stop_while_an_answer_is_on_its_way_still_delivers_it(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> None:
    """Before the drain, the polling stop closed the bot's session under the handler's
    sendMessage: the chat never got its answer."""
    fake_api.delay_next("sendMessage", 4.0, chat_id=GROUP)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir) as rig:
        rig.push(rig.updates.message(GROUP, MEMBER, "/queue"))
        await asyncio.sleep(0.5)  # the answer is on its way, for seconds more
    assert fake_api.sent_texts(GROUP) == ["The queue is empty."]  # answered, not in flight
