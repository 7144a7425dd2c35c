"""/auth, /unauth (by reply or user id) and /authlist: who besides admins may control."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.commands import usage
from bot.telegram.permissions import Permissions
from bot.telegram.routers.common import answer_minor, may_configure, sender_id
from bot.telegram.services import BotServices


def target_of(message: Message, command: CommandObject) -> tuple[int, str, str] | None:
    """(user id, name to show, name to store) from the replied-to message or the argument;
    a bare id stores no name, so it never overwrites a name learnt from a reply."""
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and not reply.from_user.is_bot:
        return reply.from_user.id, reply.from_user.full_name, reply.from_user.full_name
    raw = (command.args or "").strip()
    if raw.isdecimal() and int(raw) > 0:
        return int(raw), raw, ""
    return None


async def authorize(
    message: Message,
    command: CommandObject,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
) -> None:
    if not await may_configure(message, bot, permissions):
        return
    target = target_of(message, command)
    if target is None:
        await answer_minor(message, usage("auth"))
        return
    user_id, name, stored_name = target
    chat_id = message.chat.id
    added = await services.auth.add(chat_id, user_id, name=stored_name, added_by=sender_id(message))
    if added:
        await services.audit.record(
            f"tg:{sender_id(message)}",
            "auth.add",
            "chat",
            str(chat_id),
            before=None,
            after={"user": user_id},
        )
        await message.answer(_("✅ {name} can now control playback here.").format(name=name))
    else:
        await message.answer(_("{name} is already authorised here.").format(name=name))


async def unauthorize(
    message: Message,
    command: CommandObject,
    bot: Bot,
    services: BotServices,
    permissions: Permissions,
) -> None:
    if not await may_configure(message, bot, permissions):
        return
    target = target_of(message, command)
    if target is None:
        await answer_minor(message, usage("unauth"))
        return
    user_id, name, _stored = target
    chat_id = message.chat.id
    if await services.auth.remove(chat_id, user_id):
        await services.audit.record(
            f"tg:{sender_id(message)}",
            "auth.remove",
            "chat",
            str(chat_id),
            before={"user": user_id},
            after=None,
        )
        await message.answer(_("{name} can no longer control playback here.").format(name=name))
    else:
        await message.answer(_("{name} was not authorised here.").format(name=name))


async def authorized_list(message: Message, services: BotServices) -> None:
    entries = await services.auth.list_users(message.chat.id)
    if not entries:
        await message.answer(_("Nobody besides the administrators controls playback here."))
        return
    lines = [_("Authorised users in this chat:")]
    lines += [f"• {entry.name or entry.user_id} ({entry.user_id})" for entry in entries]
    await message.answer("\n".join(lines))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="auth")
    router.message.register(authorize, Command("auth"))
    router.message.register(unauthorize, Command("unauth"))
    router.message.register(authorized_list, Command("authlist"))
    return router
