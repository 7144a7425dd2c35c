"""The now-playing buttons.  Each press is re-checked here: rights, layout version, and
that the button's track is still the one playing (else the button has expired)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InaccessibleMessage
from aiogram.utils.i18n import gettext as _

from bot.telegram import actions
from bot.telegram.callbacks import CALLBACK_VERSION, Control, track_tag
from bot.telegram.keyboards import queue_pages as queue_keyboard
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.rights import Need, needs
from bot.telegram.services import BotServices
from bot.telegram.targets import Target
from bot.telegram.views import queue_pages, queue_text

#: what a pressed control may ask for besides "queue" (which anyone may press)
ACTIONS = frozenset({"pause", "resume", "skip", "stop", "loop"})


def expired_text() -> str:
    return _("This button has expired.")


async def show_queue(query: CallbackQuery, services: BotServices, target: Target) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(expired_text())
        return
    snapshot = await services.players.snapshot(target.chat_id)
    pages = queue_pages(snapshot)
    await query.answer()
    await message.answer(queue_text(snapshot, 1), reply_markup=queue_keyboard(1, pages))


async def control(
    query: CallbackQuery,
    callback_data: Control,
    services: BotServices,
    nowplaying: NowPlayingCards,
    target: Target,
) -> None:
    """Rights were checked by ``RightsMiddleware``; the button's track must still play."""
    chat_id = target.chat_id
    players = services.players
    snapshot = await players.snapshot(chat_id)
    if snapshot.now is None or track_tag(snapshot.now.track.id) != callback_data.track:
        await query.answer(expired_text())
        return
    action = callback_data.action
    if action == "pause":
        done = await actions.pause(players, chat_id)
    elif action == "resume":
        done = await actions.resume(players, chat_id)
    elif action == "skip":
        done = await actions.skip(players, chat_id, brief=True)
    elif action == "stop":
        done = await actions.stop(players, chat_id)
    else:
        done = await actions.loop(players, chat_id)
    await query.answer(done.text)
    if action in {"pause", "resume", "loop"}:
        await nowplaying.refresh(chat_id)
    elif action == "stop":
        await nowplaying.show(chat_id)


async def expired(query: CallbackQuery) -> None:
    await query.answer(expired_text())


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="controls")
    current = F.v == CALLBACK_VERSION
    router.callback_query.register(show_queue, Control.filter(current & (F.action == "queue")))
    router.callback_query.register(
        control,
        Control.filter(current & F.action.in_(ACTIONS)),
        flags=needs(Need.CONTROL),
    )
    return router


def build_expired_router() -> Router:
    """Registered last: any button no other handler took is from an old layout."""
    router = Router(name="expired")
    router.callback_query.register(expired)
    return router
