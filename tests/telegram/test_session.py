"""The bot's session stays closed once closed: a late request fails at once instead of
opening an aiohttp session that nobody closes (an "Unclosed client session" at exit)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError

from bot.telegram.dispatcher import create_bot
from bot.telegram.sender import Sender
from bot.telegram.session import BotSession, SessionClosed
from tests.support.fake_botapi import FakeBotAPI
from tests.telegram.conftest import bot_settings

GROUP = -1001


async def test_a_request_after_close_fails_at_once_and_opens_nothing(
    fake_api: FakeBotAPI,
) -> None:
    bot = create_bot(bot_settings(fake_api.url), Sender(retry_delay=5.0))
    session = bot.session
    assert isinstance(session, BotSession)
    await bot.send_message(GROUP, "before")
    await session.close()
    started = time.monotonic()
    with pytest.raises(SessionClosed):  # not retried: the sender would wait 5 s first
        await bot.send_message(GROUP, "after")
    assert time.monotonic() - started < 1.0
    assert session._session is not None
    assert session._session.closed  # the one it had, closed; no new one
    assert [c.status for c in fake_api.calls_of("sendMessage")] == [200]


async def test_a_request_racing_close_opens_no_second_session(fake_api: FakeBotAPI) -> None:
    """aiogram's close waits a quarter second after closing; a request in that window
    used to open a new session."""
    bot = create_bot(bot_settings(fake_api.url), Sender())
    await bot.send_message(GROUP, "before")
    closing = asyncio.create_task(bot.session.close())
    await asyncio.sleep(0.05)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(GROUP, "during")
    await closing
    session = bot.session
    assert isinstance(session, BotSession)
    assert session._session is not None
    assert session._session.closed


async def test_the_first_request_is_not_taken_for_a_close(fake_api: FakeBotAPI) -> None:
    """aiogram resets its connector by calling ``close`` on first use."""
    bot = create_bot(bot_settings(fake_api.url), Sender())
    try:
        assert (await bot.send_message(GROUP, "one")).text == "one"
        assert (await bot.send_message(GROUP, "two")).text == "two"
    finally:
        await bot.session.close()


@pytest.mark.parametrize(
    ("base", "waits"), [("http://127.0.0.1:8081", False), ("https://api.telegram.org", True)]
)
async def test_only_a_tls_session_waits_for_its_connections_at_close(
    monkeypatch: pytest.MonkeyPatch, base: str, waits: bool
) -> None:
    """aiogram sleeps a quarter second after closing, for TLS transports to shut down;
    over plain HTTP there are none, and every stop paid it."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float, *args: object) -> None:
        slept.append(delay)
        await real_sleep(0)

    session = BotSession(api=TelegramAPIServer.from_base(base))
    await session.create_session()
    monkeypatch.setattr(asyncio, "sleep", sleep)
    await session.close()
    assert session._session is not None
    assert session._session.closed
    assert (0.25 in slept) is waits
