"""The Bot API session: aiogram's aiohttp session, closed for good once closed."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientConnectionError, ClientSession


class SessionClosed(TelegramNetworkError):
    """A request after the session was closed (shutting down): not worth a retry."""


class BotSession(AiohttpSession):
    """aiogram's session, except that it stays closed once closed, and closes at once
    over plain HTTP.

    aiogram opens a new aiohttp session for any request after ``close`` (and during the
    quarter second ``close`` waits), and nobody closes that one: at shutdown a late card
    edit or answer left "Unclosed client session" behind.  Here such a request fails like
    any network failure, which every caller already handles."""

    _closed = False
    #: aiogram's ``create_session`` calls ``close`` itself to reset its connector (first
    #: use, a new proxy): that one is not the end
    _resetting = False

    async def create_session(self) -> ClientSession:
        if self._closed:
            raise ClientConnectionError("the bot's session is closed")
        self._resetting = True
        try:
            return await super().create_session()
        finally:
            self._resetting = False

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if self._closed:
            raise SessionClosed(method=method, message="the bot's session is closed")
        return await super().make_request(bot, method, timeout)

    async def close(self) -> None:
        if not self._resetting:
            self._closed = True
        if not self.api.base.startswith("https:"):
            # aiogram then waits a quarter second for TLS connections to shut down
            # (aiohttp's graceful-shutdown advice); plain HTTP (a local Bot API server, the
            # tests' fake) has none, and every stop paid the wait
            if self._session is not None and not self._session.closed:
                await self._session.close()
            return
        await super().close()
