"""/start, /help and /lang; also keeps the admin cache fresh on chat_member updates, and
follows a group to its new id when it becomes a supergroup."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import ChatMemberUpdated, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.telegram.commands import help_text, usage
from bot.telegram.gates import Carries
from bot.telegram.i18n import SUPPORTED_LOCALES, user_locale
from bot.telegram.permissions import Permissions
from bot.telegram.rights import Need, needs
from bot.telegram.routers.channels import channel_gone
from bot.telegram.routers.common import answer_minor, sender_id
from bot.telegram.routers.settings import apply_change
from bot.telegram.services import BotServices


async def start(message: Message) -> None:
    await message.answer(help_text())


async def language(
    message: Message,
    command: CommandObject,
    services: BotServices,
    i18n: I18n,
) -> None:
    raw = (command.args or "").strip().lower()
    if raw not in (*SUPPORTED_LOCALES, "auto"):
        await answer_minor(message, usage("lang"))
        return
    chat_id = message.chat.id
    value = None if raw == "auto" else raw
    await apply_change(services, chat_id, sender_id(message), "language", value)
    locale = value or user_locale(message.from_user) or i18n.default_locale
    with i18n.use_locale(locale):
        await message.answer(_("Language set: English."))


async def member_changed(event: ChatMemberUpdated, permissions: Permissions) -> None:
    permissions.cache.invalidate(event.chat.id)


async def bot_membership_changed(
    event: ChatMemberUpdated,
    services: BotServices,
    permissions: Permissions,
    bot: Bot,
    i18n: I18n,
) -> None:
    """Removed from a group or channel: its stream stops at once (not at the next failed
    send), and a channel's group stops driving it."""
    permissions.cache.invalidate(event.chat.id)
    if event.new_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.KICKED):
        await services.players.stop(event.chat.id)
        if event.chat.type == ChatType.CHANNEL:
            await channel_gone(event, services, bot, i18n)
        else:  # a group that drove a channel: the channel plays on, driven from nowhere
            await services.channels.unlink_group(event.chat.id)


async def group_upgraded(message: Message, services: BotServices, permissions: Permissions) -> None:
    """The group became a supergroup under a new id: its settings, channel, authorized
    users and assistant move there (one transaction), then its queue, which starts again
    in the new chat (the old chat's voice chat is gone with its id) from the current track's
    beginning.  Queued in the new chat first, cleared in the old one after: a failure in
    between leaves the tracks in both, never in neither."""
    old, new = message.chat.id, message.migrate_to_chat_id
    if new is None or new == old:
        return
    await services.chat_settings.move_chat(old, new)
    services.channels.forget()
    for chat_id in (old, new):
        permissions.cache.invalidate(chat_id)
    snapshot = await services.players.snapshot(old)
    tracks = [*([snapshot.now.track] if snapshot.now else []), *snapshot.pending]
    if tracks:
        await services.players.play_many(new, tracks)
    await services.players.stop(old)


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="basic")
    router.message.register(start, CommandStart())
    router.message.register(start, Command("help"))
    router.message.register(language, Command("lang"), flags=needs(Need.CONFIGURE))
    router.chat_member.register(member_changed)
    router.my_chat_member.register(bot_membership_changed)
    return router


def build_upgrade_router() -> Router:
    """The group-became-a-supergroup service message, on a router of its own: its root
    filter lets every other message pass by at once, and the commands' router stays
    commands only (``bot.telegram.gates``)."""
    router = Router(name="upgrade")
    Carries("migrate_to_chat_id").stand_on(router)
    router.message.register(group_upgraded)
    return router
