"""/queue (paged), /now, /shuffle, /remove, /move, /clear."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InaccessibleMessage, Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.callbacks import CALLBACK_VERSION, QueuePage
from bot.telegram.commands import usage
from bot.telegram.formatting import short_title
from bot.telegram.keyboards import queue_pages as queue_keyboard
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.rights import Need, needs
from bot.telegram.routers.common import answer_done, answer_minor
from bot.telegram.services import BotServices
from bot.telegram.targets import Target
from bot.telegram.views import card_text, queue_pages, queue_text


def _ints(raw: str | None, count: int) -> list[int] | None:
    parts = (raw or "").split()
    if len(parts) != count or not all(p.isdecimal() and int(p) >= 1 for p in parts):
        return None
    return [int(p) for p in parts]


async def show_queue(
    message: Message, command: CommandObject, services: BotServices, target: Target
) -> None:
    raw = (command.args or "").strip()
    page = 1
    if raw:
        numbers = _ints(raw, 1)
        if numbers is None:
            await answer_minor(message, usage("queue"))
            return
        page = numbers[0]
    snapshot = await services.players.snapshot(target.chat_id)
    pages = queue_pages(snapshot)
    page = min(page, pages)
    await message.answer(queue_text(snapshot, page), reply_markup=queue_keyboard(page, pages))


async def queue_page(
    query: CallbackQuery, callback_data: QueuePage, services: BotServices, target: Target
) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(_("This button has expired."))
        return
    snapshot = await services.players.snapshot(target.chat_id)
    pages = queue_pages(snapshot)
    page = max(1, min(callback_data.page, pages))
    await message.edit_text(queue_text(snapshot, page), reply_markup=queue_keyboard(page, pages))
    await query.answer()


async def now(message: Message, services: BotServices, target: Target) -> None:
    await message.answer(card_text(await services.players.snapshot(target.chat_id)))


async def shuffle(
    message: Message,
    services: BotServices,
    nowplaying: NowPlayingCards,
    target: Target,
) -> None:
    await services.players.shuffle(target.chat_id)
    await answer_done(message, _("🔀 The queue is shuffled."))
    await nowplaying.refresh(target.chat_id)


async def remove(
    message: Message,
    command: CommandObject,
    services: BotServices,
    target: Target,
) -> None:
    numbers = _ints(command.args, 1)
    if numbers is None:
        await answer_minor(message, usage("remove"))
        return
    track = await services.players.remove(target.chat_id, numbers[0])
    await answer_done(
        message,
        _("Removed #{position}: {title}").format(
            position=numbers[0], title=short_title(track.title)
        ),
    )


async def move(
    message: Message,
    command: CommandObject,
    services: BotServices,
    target: Target,
) -> None:
    numbers = _ints(command.args, 2)
    if numbers is None:
        await answer_minor(message, usage("move"))
        return
    src, dst = numbers
    track = await services.players.move(target.chat_id, src, dst)
    await answer_done(
        message,
        _("Moved {title} to #{position}.").format(title=short_title(track.title), position=dst),
    )


async def clear(message: Message, services: BotServices, target: Target) -> None:
    count = await services.players.clear(target.chat_id)
    await answer_done(message, _("🗑 Removed from the queue: {count}.").format(count=count))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="queue")
    router.message.register(show_queue, Command("queue"))
    router.callback_query.register(queue_page, QueuePage.filter(F.v == CALLBACK_VERSION))
    router.message.register(now, Command("now"))
    control = needs(Need.CONTROL)
    router.message.register(shuffle, Command("shuffle"), flags=control)
    router.message.register(remove, Command("remove"), flags=control)
    router.message.register(move, Command("move"), flags=control)
    router.message.register(clear, Command("clear"), flags=control)
    # posts in a channel (bot.telegram.channel_posts); /queue and /now would be chatter
    for handler, name in (
        (shuffle, "shuffle"),
        (remove, "remove"),
        (move, "move"),
        (clear, "clear"),
    ):
        router.channel_post.register(handler, Command(name))
    return router
