"""ONE now-playing message per chat: posted when a track starts, edited as it plays.

When a new track starts the old card is deleted and a new one posted, so the card stays
the latest thing in the chat; pause/resume, loop changes and the progress line edit it in
place.  The text always comes from a fresh player snapshot, never from event payloads.

A channel's card goes to the group driving it, and a channel driven from no group gets
none (``bot.telegram.targets.shown_in``); cards stay keyed by the stream's chat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import BufferedInputFile, FSInputFile, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.control import ChatSnapshot
from bot.telegram.covers import cover_png
from bot.telegram.i18n import chat_locale, in_locale
from bot.telegram.keyboards import controls
from bot.telegram.sender import Sender
from bot.telegram.services import BotServices
from bot.telegram.targets import shown_in
from bot.telegram.views import card_text

log = logging.getLogger(__name__)


@dataclass
class Card:
    #: the chat the card is in (the stream's chat, or the group driving a channel)
    shown_in: int
    message_id: int
    track_id: str
    photo: bool
    text: str
    markup: InlineKeyboardMarkup | None


class NowPlayingCards:
    def __init__(
        self, bot: Bot, services: BotServices, i18n: I18n, sender: Sender | None = None
    ) -> None:
        self.bot = bot
        self.services = services
        self.i18n = i18n
        self.sender = sender
        self.images = services.settings.bot.now_playing_images
        self._cards: dict[int, Card] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def card(self, chat_id: int) -> Card | None:
        return self._cards.get(chat_id)

    def chats(self) -> list[int]:
        return list(self._cards)

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    async def _render(
        self, snapshot: ChatSnapshot, shown_in: int
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        locale = await chat_locale(
            self.services.chat_settings,
            shown_in,
            self.services.settings.i18n.default_locale,
        )
        with in_locale(self.i18n, locale):
            if snapshot.now is None:
                return _("⏹ Playback has ended."), None
            markup = controls(snapshot.now.track.id, paused=snapshot.now.paused, loop=snapshot.loop)
            return card_text(snapshot), markup

    async def show(self, chat_id: int) -> None:
        """A track started (or the queue ran out): post the new card, retire the old one."""
        async with self._lock(chat_id):
            snapshot = await self.services.players.snapshot(chat_id)
            card = self._cards.get(chat_id)
            where = await shown_in(self.services.channels, chat_id)
            if (
                card is not None
                and snapshot.now is not None
                and card.track_id == snapshot.now.track.id
                and card.shown_in == where
            ):
                await self._edit(chat_id, card, snapshot)
                return
            if card is not None:
                await self._retire(chat_id, card, snapshot)
            if snapshot.now is not None and where is not None:
                await self._post(chat_id, snapshot, where)

    async def refresh(self, chat_id: int, *, optional: bool = False) -> None:
        """Re-renders the card in place; ``optional`` edits are skipped while throttled."""
        card = self._cards.get(chat_id)
        if card is None:
            return
        if optional and self.sender is not None and self.sender.chat_delay(card.shown_in) > 0:
            return
        async with self._lock(chat_id):
            card = self._cards.get(chat_id)
            if card is None:
                return
            snapshot = await self.services.players.snapshot(chat_id)
            if snapshot.now is None or snapshot.now.track.id != card.track_id:
                return
            await self._edit(chat_id, card, snapshot)

    async def _post(self, chat_id: int, snapshot: ChatSnapshot, where: int) -> None:
        if snapshot.now is None:
            return
        text, markup = await self._render(snapshot, where)
        track = snapshot.now.track
        try:
            if self.images:
                photo: str | BufferedInputFile | FSInputFile
                if track.thumbnail and track.thumbnail.startswith(("http://", "https://")):
                    photo = track.thumbnail
                else:
                    photo = BufferedInputFile(cover_png(track.title), filename="cover.png")
                message = await self.bot.send_photo(where, photo, caption=text, reply_markup=markup)
            else:
                message = await self.bot.send_message(where, text, reply_markup=markup)
        except TelegramAPIError as exc:
            log.warning("now-playing card for %s not sent: %s", chat_id, exc)
            return
        self._cards[chat_id] = Card(where, message.message_id, track.id, self.images, text, markup)

    async def _edit(self, chat_id: int, card: Card, snapshot: ChatSnapshot) -> None:
        text, markup = await self._render(snapshot, card.shown_in)
        if text == card.text and markup == card.markup:
            return
        where = card.shown_in
        try:
            if card.photo:
                result = await self.bot.edit_message_caption(
                    chat_id=where, message_id=card.message_id, caption=text, reply_markup=markup
                )
            else:
                result = await self.bot.edit_message_text(
                    text, chat_id=where, message_id=card.message_id, reply_markup=markup
                )
        except TelegramForbiddenError:
            self._cards.pop(chat_id, None)
            return
        except TelegramAPIError as exc:
            log.warning("now-playing card for %s not edited: %s", chat_id, exc)
            return
        card.text, card.markup = text, markup
        if isinstance(result, Message):
            # The sender re-sends a card whose message was deleted: follow the new one.
            card.message_id = result.message_id

    async def _retire(self, chat_id: int, card: Card, snapshot: ChatSnapshot) -> None:
        self._cards.pop(chat_id, None)
        if snapshot.now is None:
            await self._edit(chat_id, card, snapshot)
            return
        try:
            await self.bot.delete_message(card.shown_in, card.message_id)
        except TelegramAPIError as exc:
            log.info("old now-playing card in %s not deleted: %s", chat_id, exc)
