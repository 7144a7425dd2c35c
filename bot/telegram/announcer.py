"""The bot's ear on the event bus: track starts, auto-end warnings, stream errors.

Whenever a track starts (by /play or by itself) the chat gets the now-playing card with the
track's title.  A slow Telegram never slows playback: the bus drops the oldest events for a
subscriber that falls behind, and every send here is caught and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.events import Event, Subscription
from bot.domain.queue import QueueError
from bot.tasks import cancel_and_wait
from bot.telegram.formatting import short_title
from bot.telegram.i18n import chat_locale, in_locale
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.services import BotServices
from bot.telegram.targets import shown_in

log = logging.getLogger(__name__)

EVENTS = ("track_change", "auto_end_warning", "stream_status", "system_alert")


class Announcer:
    def __init__(
        self,
        bot: Bot,
        services: BotServices,
        cards: NowPlayingCards,
        i18n: I18n,
        *,
        progress_interval: float | None = None,
    ) -> None:
        self.bot = bot
        self.services = services
        self.cards = cards
        self.i18n = i18n
        self.progress_interval = (
            services.settings.bot.progress_update_seconds
            if progress_interval is None
            else progress_interval
        )
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._sub = self.services.bus.subscribe(EVENTS, maxsize=500)
        self._tasks = [
            asyncio.create_task(self._listen(self._sub), name="announcer-events"),
            asyncio.create_task(self._tick(), name="announcer-progress"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    async def _listen(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                await self.handle(event)
            except Exception:
                log.exception("announcing %s in %s failed", event.event, event.chat_id)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.progress_interval)
            for chat_id in self.cards.chats():
                try:
                    await self.cards.refresh(chat_id, optional=True)
                except QueueError as exc:  # storage away, or the chat moved: the next tick
                    log.warning("progress update in %s skipped: %s", chat_id, exc)
                except Exception:
                    log.exception("progress update in %s failed", chat_id)

    async def handle(self, event: Event) -> None:
        chat_id = event.chat_id
        if chat_id is None:
            return
        data = event.data
        if event.event == "track_change":
            await self.cards.show(chat_id)
        elif event.event == "system_alert" and data.get("kind") == "assistant_moved":
            await self._say(chat_id, event, self._moved_text)
        elif event.event == "system_alert" and data.get("kind") == "picture_lost":
            await self._say(chat_id, event, self._picture_lost_text)
        elif event.event == "auto_end_warning":
            await self._say(chat_id, event, self._auto_end_text)
        elif event.event == "stream_status":
            state = data.get("state")
            if state == "idle":
                await self.cards.show(chat_id)  # retires the card: playback has ended
            elif state in ("paused", "playing"):
                await self.cards.refresh(chat_id)
            elif state == "error" and data.get("track_id"):
                # Failures of a /play request reach that request's answer; these are the
                # tracks that failed on their own turn, which nobody else reports.
                await self._say(chat_id, event, self._stream_error_text)

    @staticmethod
    def _auto_end_text(event: Event) -> str:
        seconds = int(event.data.get("seconds_left") or 0)
        return _("⏳ Nobody is listening: playback ends in {seconds} s.").format(seconds=seconds)

    @staticmethod
    def _picture_lost_text(event: Event) -> str:
        title = short_title(str(event.data.get("title") or ""))
        return _("🎬 The picture of {title} stopped; its sound plays on.").format(title=title)

    @staticmethod
    def _moved_text(event: Event) -> str:
        """The one line an assistant-side failure shows the chat (its account moved)."""
        old, new = str(event.data.get("from", "")), str(event.data.get("to", ""))
        whys = {
            "flood_wait": _("{old} must wait (Telegram flood limit)"),
            "banned": _("{old} is banned here"),
            "not_member": _("{old} cannot join this group"),
            "channels_too_much": _("{old} is in too many groups"),
        }
        why = whys.get(str(event.data.get("code")), _("{old} is unavailable")).format(old=old)
        return _("🔁 Assistant {why}; {new} takes over.").format(why=why, new=new)

    @staticmethod
    def _stream_error_text(event: Event) -> str:
        title = event.data.get("title")
        if isinstance(title, str) and title:
            return _("⚠️ Could not play {title}; moving on.").format(title=short_title(title))
        return _("⚠️ Playback failed; moving on.")

    async def _say(self, chat_id: int, event: Event, render: Callable[[Event], str]) -> None:
        """In the chat, or in the group driving it when it is a channel (a channel driven
        from no group hears nothing: its posts would reach every subscriber)."""
        where = await shown_in(self.services.channels, chat_id)
        if where is None:
            log.info("%s in channel %s not announced (no group drives it)", event.event, chat_id)
            return
        locale = await chat_locale(
            self.services.chat_settings, where, self.services.settings.i18n.default_locale
        )
        with in_locale(self.i18n, locale):
            text = render(event)
        try:
            await self.bot.send_message(where, text)
        except TelegramAPIError as exc:
            log.warning("announcement in %s not sent: %s", where, exc)
