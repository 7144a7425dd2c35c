"""The now-playing buttons.  Each press is re-checked here: rights, layout version, and
that the button's track is still the one playing (else the button has expired)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InaccessibleMessage
from aiogram.utils.i18n import gettext as _

from bot.domain.models import LoopMode
from bot.telegram.callbacks import CALLBACK_VERSION, Control, track_tag
from bot.telegram.keyboards import loop_label, next_choice
from bot.telegram.keyboards import queue_pages as queue_keyboard
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.permissions import Permissions
from bot.telegram.routers.common import refusal_control
from bot.telegram.services import BotServices
from bot.telegram.views import queue_pages, queue_text

LOOP_ORDER = (LoopMode.OFF, LoopMode.TRACK, LoopMode.QUEUE)
ACTIONS = frozenset({"pause", "resume", "skip", "stop", "loop", "queue"})


def expired_text() -> str:
    return _("This button has expired.")


async def control(
    query: CallbackQuery,
    callback_data: Control,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
    nowplaying: NowPlayingCards,
) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(expired_text())
        return
    chat_id = message.chat.id
    players = services.players
    if callback_data.action == "queue":
        snapshot = await players.snapshot(chat_id)
        pages = queue_pages(snapshot)
        await query.answer()
        await message.answer(queue_text(snapshot, 1), reply_markup=queue_keyboard(1, pages))
        return
    if callback_data.action not in ACTIONS:
        await query.answer(expired_text())
        return
    if not await permissions.can_control(bot, chat_id, query.from_user.id):
        await query.answer(refusal_control(), show_alert=True)
        return
    snapshot = await players.snapshot(chat_id)
    if snapshot.now is None or track_tag(snapshot.now.track.id) != callback_data.track:
        await query.answer(expired_text())
        return
    action = callback_data.action
    if action == "pause":
        done = await players.pause(chat_id)
        text = _("⏸ Paused.") if done else _("Nothing is playing.")
    elif action == "resume":
        done = await players.resume(chat_id)
        text = _("▶️ Resumed.") if done else _("Nothing is paused.")
    elif action == "skip":
        await players.skip(chat_id)
        text = _("⏭ Skipped.")
    elif action == "stop":
        await players.stop(chat_id)
        text = _("⏹ Stopped; the queue is cleared.")
    else:
        mode = next_choice(LOOP_ORDER, snapshot.loop)
        await players.set_loop(chat_id, mode)
        text = loop_label(mode)
    await query.answer(text)
    if action in {"pause", "resume", "loop"}:
        await nowplaying.refresh(chat_id)
    elif action == "stop":
        await nowplaying.show(chat_id)


async def expired(query: CallbackQuery) -> None:
    await query.answer(expired_text())


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="controls")
    router.callback_query.register(control, Control.filter(F.v == CALLBACK_VERSION))
    return router


def build_expired_router() -> Router:
    """Registered last: any button no other handler took is from an old layout."""
    router = Router(name="expired")
    router.callback_query.register(expired)
    return router
