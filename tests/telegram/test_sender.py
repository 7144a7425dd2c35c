"""The one send path: flood waits, 403, vanished messages, throttling, metrics."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter, TelegramServerError
from prometheus_client import Counter

from bot.metrics import TELEGRAM_CALLS, TELEGRAM_ERRORS, TELEGRAM_RETRIES
from bot.telegram.dispatcher import create_bot
from bot.telegram.sender import BEFORE_ANSWER, Sender
from bot.telegram.throttle import RateLimiter
from tests.support.fake_botapi import FakeBotAPI
from tests.telegram.conftest import bot_settings

GROUP = -1001


def counter(metric: Counter, *labels: str) -> float:
    target = metric.labels(*labels) if labels else metric
    return float(target._value.get())


async def test_429_waits_retry_after_then_sends(fake_api: FakeBotAPI, bot: Bot) -> None:
    retries = counter(TELEGRAM_RETRIES)
    errors = counter(TELEGRAM_ERRORS, "sendMessage", "retry_after")
    fake_api.fail_flood("sendMessage", retry_after=1)
    started = time.monotonic()
    message = await bot.send_message(GROUP, "after the flood")
    assert time.monotonic() - started >= 1.0
    assert message.text == "after the flood"
    calls = fake_api.calls_of("sendMessage", GROUP)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0
    assert counter(TELEGRAM_RETRIES) == retries + 1
    assert counter(TELEGRAM_ERRORS, "sendMessage", "retry_after") == errors + 1


async def test_429_gives_up_after_max_retries(fake_api: FakeBotAPI) -> None:
    sender = Sender(max_retries=1)
    bot = create_bot(bot_settings(fake_api.url), sender)
    try:
        fake_api.fail_flood("sendMessage", retry_after=1, times=2)
        with pytest.raises(TelegramRetryAfter):
            await bot.send_message(GROUP, "never")
        assert len(fake_api.calls_of("sendMessage")) == 2
    finally:
        await bot.session.close()


async def test_403_calls_the_hook_with_the_chat(
    fake_api: FakeBotAPI, bot: Bot, sender: Sender
) -> None:
    stopped: list[int] = []

    async def stop(chat_id: int) -> None:
        stopped.append(chat_id)

    sender.on_forbidden(stop)
    fake_api.fail_next("sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(GROUP, "hello?")
    await sender.drain()
    assert stopped == [GROUP]


async def test_edit_of_a_vanished_message_sends_a_new_one(fake_api: FakeBotAPI, bot: Bot) -> None:
    result = await bot.edit_message_text("fresh text", chat_id=GROUP, message_id=999)
    assert not isinstance(result, bool)
    assert result.text == "fresh text"
    assert [c.status for c in fake_api.calls_of("editMessageText")] == [400]
    assert fake_api.sent_texts(GROUP) == ["fresh text"]


async def test_unchanged_edit_is_a_success(fake_api: FakeBotAPI, bot: Bot) -> None:
    message = await bot.send_message(GROUP, "same")
    assert await bot.edit_message_text("same", chat_id=GROUP, message_id=message.message_id)
    assert fake_api.calls_of("editMessageText")[0].status == 400


async def test_server_errors_are_counted_and_retried(fake_api: FakeBotAPI, bot: Bot) -> None:
    before = counter(TELEGRAM_ERRORS, "sendMessage", "server")
    calls = counter(TELEGRAM_CALLS, "sendMessage")
    fake_api.fail_next("sendMessage", 502, "Bad Gateway")
    message = await bot.send_message(GROUP, "x")
    assert message.text == "x"
    assert [c.status for c in fake_api.calls_of("sendMessage", GROUP)] == [502, 200]
    assert counter(TELEGRAM_ERRORS, "sendMessage", "server") == before + 1
    assert counter(TELEGRAM_CALLS, "sendMessage") == calls + 2


async def test_dropped_connection_is_retried_once_then_delivered(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    before = counter(TELEGRAM_ERRORS, "sendMessage", "network")
    fake_api.reset_next("sendMessage")
    message = await bot.send_message(GROUP, "after the reset")
    assert message.text == "after the reset"
    assert [c.status for c in fake_api.calls_of("sendMessage", GROUP)] == [0, 200]
    assert fake_api.sent_texts(GROUP) == ["after the reset"]
    assert counter(TELEGRAM_ERRORS, "sendMessage", "network") == before + 1


async def test_server_errors_give_up_after_max_retries(fake_api: FakeBotAPI) -> None:
    bot = create_bot(bot_settings(fake_api.url), Sender(max_retries=2, retry_delay=0.01))
    try:
        fake_api.fail_next("sendMessage", 500, "Internal Server Error", times=3)
        with pytest.raises(TelegramServerError):
            await bot.send_message(GROUP, "never")
        assert [c.status for c in fake_api.calls_of("sendMessage")] == [500, 500, 500]
    finally:
        await bot.session.close()


def test_rate_limiter_window() -> None:
    now = [100.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert limiter.delay() == 0
    limiter._times.extend([100.0, 110.0])
    assert limiter.delay() == pytest.approx(60.0)
    now[0] = 161.0
    assert limiter.delay() == 0  # the first send left the window
    limiter._times.append(161.0)
    assert limiter.delay() == pytest.approx(9.0)


async def test_group_sends_are_throttled(fake_api: FakeBotAPI) -> None:
    sender = Sender(group_limit=2, group_window=0.6)
    bot = create_bot(bot_settings(fake_api.url), sender)
    try:
        await asyncio.gather(*(bot.send_message(GROUP, f"m{i}") for i in range(3)))
        await bot.send_message(42, "private chats have their own budget")
        stamps = [c.at for c in fake_api.calls_of("sendMessage", GROUP)]
        assert len(stamps) == 3
        assert stamps[2] - stamps[0] >= 0.55
        assert sender.chat_delay(42) == 0
    finally:
        await bot.session.close()


async def test_the_before_answer_hook_runs_before_what_the_chat_sees(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    """A forwarded update is acknowledged there (bot.cluster.routing): before the first
    message is posted, not before a lookup that the chat never sees."""
    seen: list[str] = []

    async def before() -> None:
        seen.append(f"before call {len(fake_api.calls)}")

    token = BEFORE_ANSWER.set(before)
    try:
        await bot.get_me()
        assert seen == []
        await bot.send_message(GROUP, "an answer")
    finally:
        BEFORE_ANSWER.reset(token)
    assert seen == ["before call 1"]  # awaited before sendMessage reached the API
    await bot.send_message(GROUP, "outside any update")
    assert seen == ["before call 1"]
