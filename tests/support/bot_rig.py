"""The whole bot on real parts against the fake Bot API: the real dispatcher, PlayerManager
with the LocalEngine (real ffmpeg), a Redis queue store on a real redis-server, the SQLite
repositories and the real SourceResolver.  Telegram is the only simulated part.

Reliability tests and benchmarks reuse it: ``async with BotRig.open(...) as rig``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher

from bot.config import Settings, settings_from_mapping
from bot.domain.manager import PlayerManager
from bot.engines.local import LocalEngine
from bot.storage.redis_queue import RedisQueueStore
from bot.telegram.i18n import make_i18n
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.sender import Sender
from bot.telegram.services import BotServices
from bot.wiring import build
from tests.support.fake_botapi import TOKEN, Call, FakeBotAPI, Matcher
from tests.support.tg_objects import UpdateFactory, user

OWNER = user(1, "Owner")


def rig_settings(api_base: str, workdir: Path, redis_url: str, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "telegram": {"bot_token": TOKEN, "api_base": api_base, "owners": [OWNER["id"]]},
        "engine": {"kind": "local"},
        "storage": {
            "database_url": f"sqlite+aiosqlite:///{workdir / 'sattva.db'}",
            "redis_url": redis_url,
        },
        "sources": {
            "allow_private_networks": True,
            "cache_dir": str(workdir / "cache"),
            "ytdlp_enabled": False,
        },
        "web": {"enabled": False},
        # tests send one user's /play faster than a person would; test_play_guards lowers it
        "bot": {"plays_per_user_per_minute": 1000},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return settings_from_mapping(data)


def is_card(call: Call) -> bool:
    """A now-playing card (its buttons carry the card's callback prefix)."""
    return any(data.startswith("c:") for _, data in call.buttons())


@dataclass(repr=False)
class BotRig:
    api: FakeBotAPI
    settings: Settings
    bot: Bot
    dp: Dispatcher
    services: BotServices
    players: PlayerManager
    engine: LocalEngine
    sender: Sender
    updates: UpdateFactory
    polling: asyncio.Task[None] | None = None
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        api: FakeBotAPI,
        workdir: Path,
        redis_url: str,
        locales: Path,
        *,
        poll: bool = True,
        sender: Sender | None = None,
        client_timeout: float | None = None,
        polling_timeout: int = 5,
        engine: LocalEngine | None = None,
        **sections: Any,
    ) -> AsyncIterator[BotRig]:
        """``client_timeout``: the Bot API request timeout (aiogram's default is 60 s), so
        tests can make the fake answer "too late" within seconds.  ``engine``: a local
        engine of the test's own (a virtual account that reads a messages folder)."""
        settings = rig_settings(api.url, workdir, redis_url, **sections)
        # Tests talk to one group faster than Telegram's ~20 a minute; test_sender covers it.
        sender = sender or Sender(group_limit=10_000)
        store = await RedisQueueStore.open(redis_url)
        engine = LocalEngine() if engine is None else engine
        try:
            async with build(
                settings,
                engine=engine,
                store=store,
                sender=sender,
                i18n=make_i18n(settings.i18n.default_locale, locales),
            ) as parts:
                if client_timeout is not None:
                    parts.bot.session.timeout = client_timeout
                rig = cls(
                    api,
                    settings,
                    parts.bot,
                    parts.dp,
                    parts.services,
                    parts.players,
                    engine,
                    sender,
                    UpdateFactory(api),
                )
                async with rig._running(poll, polling_timeout):
                    yield rig
        finally:
            await store.close()

    @contextlib.asynccontextmanager
    async def _running(self, poll: bool, polling_timeout: int) -> AsyncIterator[None]:
        bot, dp = self.bot, self.dp
        try:
            if poll:
                self.polling = asyncio.create_task(
                    dp.start_polling(
                        bot,
                        handle_signals=False,
                        close_bot_session=False,
                        polling_timeout=polling_timeout,
                    )
                )
                await self.api.wait_call("getMe", timeout=10)
            else:
                await dp.emit_startup(bot=bot, dispatcher=dp, **dp.workflow_data)
            yield
        finally:
            if self.polling is not None:
                with contextlib.suppress(RuntimeError):
                    await dp.stop_polling()
                await self.polling
            else:
                await dp.emit_shutdown(bot=bot, dispatcher=dp, **dp.workflow_data)

    @property
    def cards(self) -> NowPlayingCards:
        cards: NowPlayingCards = self.dp["nowplaying"]
        return cards

    async def feed(self, update: dict[str, Any]) -> None:
        """Handles one update in this task (no polling): the answers are sent on return."""
        update = {"update_id": self.api.next_id(), **update}
        await self.dp.feed_raw_update(self.bot, update)

    async def texts_in(self, chat: int, who: dict[str, Any], text: str, **extra: Any) -> list[str]:
        """The final texts of the messages the bot sent into ``chat`` while handling one
        message (a progress message counts once, with the text it was edited into; cards
        aside)."""
        mark = self.api.mark()
        await self.feed(self.updates.message(chat, who, text, **extra))
        texts: dict[int, str] = {}
        for call in self.api.calls[mark:]:
            if call.chat_id != chat or call.status != 200:
                continue
            if call.method == "sendMessage" and not is_card(call):
                texts[call.result["message_id"]] = call.text
            elif call.method == "editMessageText" and int(call.params["message_id"]) in texts:
                texts[int(call.params["message_id"])] = call.text
        return list(texts.values())

    def push(self, update: dict[str, Any]) -> int:
        """Queues an update for long polling."""
        return self.api.push_update(update)

    async def say(
        self,
        chat_id: int,
        sender: dict[str, Any],
        text: str,
        expect: Matcher = None,
        *,
        timeout: float = 15.0,
        **extra: Any,
    ) -> Call:
        """Sends ``text`` as ``sender`` through long polling; waits for the bot's answer."""
        mark = self.api.mark()
        self.push(self.updates.message(chat_id, sender, text, **extra))
        return await self.api.wait_text(chat_id, expect, timeout=timeout, after=mark)
