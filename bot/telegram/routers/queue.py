"""/queue (paged), /now, /shuffle, /remove, /move, /clear."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InaccessibleMessage, Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.callbacks import CALLBACK_VERSION, QueuePage
from bot.telegram.commands import usage
from bot.telegram.formatting import short_title
from bot.telegram.keyboards import queue_pages as queue_keyboard
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.permissions import Permissions
from bot.telegram.routers.common import answer_minor, may_control
from bot.telegram.services import BotServices
from bot.telegram.views import card_text, queue_pages, queue_text


def _ints(raw: str | None, count: int) -> list[int] | None:
    parts = (raw or "").split()
    if len(parts) != count or not all(p.isdecimal() and int(p) >= 1 for p in parts):
        return None
    return [int(p) for p in parts]


async def show_queue(message: Message, command: CommandObject, services: BotServices) -> None:
    raw = (command.args or "").strip()
    page = 1
    if raw:
        numbers = _ints(raw, 1)
        if numbers is None:
            await answer_minor(message, usage("queue"))
            return
        page = numbers[0]
    snapshot = await services.players.snapshot(message.chat.id)
    pages = queue_pages(snapshot)
    page = min(page, pages)
    await message.answer(queue_text(snapshot, page), reply_markup=queue_keyboard(page, pages))


async def queue_page(query: CallbackQuery, callback_data: QueuePage, services: BotServices) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(_("This button has expired."))
        return
    snapshot = await services.players.snapshot(message.chat.id)
    pages = queue_pages(snapshot)
    page = max(1, min(callback_data.page, pages))
    await message.edit_text(queue_text(snapshot, page), reply_markup=queue_keyboard(page, pages))
    await query.answer()


async def now(message: Message, services: BotServices) -> None:
    await message.answer(card_text(await services.players.snapshot(message.chat.id)))


async def shuffle(
    message: Message,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
    nowplaying: NowPlayingCards,
) -> None:
    if not await may_control(message, bot, permissions):
        return
    await services.players.shuffle(message.chat.id)
    await message.answer(_("🔀 The queue is shuffled."))
    await nowplaying.refresh(message.chat.id)


async def remove(
    message: Message,
    command: CommandObject,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
) -> None:
    if not await may_control(message, bot, permissions):
        return
    numbers = _ints(command.args, 1)
    if numbers is None:
        await answer_minor(message, usage("remove"))
        return
    track = await services.players.remove(message.chat.id, numbers[0])
    await message.answer(
        _("Removed #{position}: {title}").format(
            position=numbers[0], title=short_title(track.title)
        )
    )


async def move(
    message: Message,
    command: CommandObject,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
) -> None:
    if not await may_control(message, bot, permissions):
        return
    numbers = _ints(command.args, 2)
    if numbers is None:
        await answer_minor(message, usage("move"))
        return
    src, dst = numbers
    track = await services.players.move(message.chat.id, src, dst)
    await message.answer(
        _("Moved {title} to #{position}.").format(title=short_title(track.title), position=dst)
    )


async def clear(
    message: Message, bot: Bot, services: BotServices, permissions: Permissions
) -> None:
    if not await may_control(message, bot, permissions):
        return
    count = await services.players.clear(message.chat.id)
    await message.answer(_("🗑 Removed from the queue: {count}.").format(count=count))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="queue")
    router.message.register(show_queue, Command("queue"))
    router.callback_query.register(queue_page, QueuePage.filter(F.v == CALLBACK_VERSION))
    router.message.register(now, Command("now"))
    router.message.register(shuffle, Command("shuffle"))
    router.message.register(remove, Command("remove"))
    router.message.register(move, Command("move"))
    router.message.register(clear, Command("clear"))
    return router
