"""/channelplay: a group drives a channel's stream (``bot.telegram.targets``).

``/channelplay @name | -100id | linked`` in a group links it to that channel (``linked``:
the channel whose discussion group this is, from getChat's ``linked_chat_id``), ``off``
unlinks, no argument shows the link.  Linking needs three things, each checked through
the Bot API and never taken from the message: the sender is an administrator of the
group (the rights flag), an administrator of the channel allowed to manage its video
chats (getChatMember on the channel; its creator always is), and the bot is an
administrator of the channel.  A channel is driven from one group at a time: linking it
from a second group moves it, and the first group is told.

In the channel itself, ``/channelplay off`` (posted by its administrators) unlinks the
channel from its group; anything else there is answered with where to send it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberOwner,
    ChatMemberUpdated,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.telegram.commands import usage
from bot.telegram.i18n import chat_locale, in_locale
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.rights import Need, needs
from bot.telegram.routers.common import answer_done, answer_minor
from bot.telegram.services import BotServices
from bot.telegram.targets import Target

log = logging.getLogger(__name__)

#: a public channel's @username (t.me links too), or a channel id (-100 and digits)
USERNAME = re.compile(r"^(?:@|(?:https?://)?t\.me/)([A-Za-z][A-Za-z0-9_]{3,31})$")
CHANNEL_ID = re.compile(r"^-100\d{1,16}$")


class Refused(Exception):
    """A link that must not be made: the sentence to answer with."""


def _title(chat: ChatFullInfo) -> str:
    return chat.title or (f"@{chat.username}" if chat.username else str(chat.id))


async def _channel_ref(bot: Bot, group_id: int, raw: str) -> int | str | None:
    """What to ask getChat for; None when ``raw`` names no channel (usage)."""
    if raw.lower() == "linked":
        try:
            linked = (await bot.get_chat(group_id)).linked_chat_id
        except TelegramAPIError as exc:
            log.info("getChat(%s) failed: %s", group_id, exc)
            linked = None
        if linked is None:
            raise Refused(_("This group has no linked channel."))
        return linked
    named = USERNAME.match(raw)
    if named is not None:
        return "@" + named.group(1)
    if CHANNEL_ID.match(raw):
        return int(raw)
    return None


async def _find_channel(bot: Bot, ref: int | str) -> ChatFullInfo:
    try:
        chat = await bot.get_chat(ref)
    except TelegramAPIError as exc:
        log.info("getChat(%s) failed: %s", ref, exc)
        raise Refused(_("Channel not found (is the bot in it?).")) from None
    if chat.type != ChatType.CHANNEL:
        raise Refused(_("{title} is not a channel.").format(title=_title(chat)))
    return chat


async def _is_admin(bot: Bot, chat_id: int, user_id: int, *, video: bool) -> bool:
    """``video``: also allowed to manage video chats (the creator always is)."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramAPIError as exc:
        log.info("getChatMember(%s, %s) failed: %s", chat_id, user_id, exc)
        return False
    if isinstance(member, ChatMemberOwner):
        return True
    return isinstance(member, ChatMemberAdministrator) and (
        member.can_manage_video_chats or not video
    )


async def _check_link(bot: Bot, channel: ChatFullInfo, user_id: int) -> None:
    title = _title(channel)
    if not await _is_admin(bot, channel.id, bot.id, video=False):
        raise Refused(_("Make me an administrator of {title} first.").format(title=title))
    if not await _is_admin(bot, channel.id, user_id, video=True):
        raise Refused(
            _("Only administrators of {title} who can manage its video chats can link it.").format(
                title=title
            )
        )


async def channelplay(
    message: Message,
    command: CommandObject,
    services: BotServices,
    bot: Bot,
    i18n: I18n,
    nowplaying: NowPlayingCards,
    target: Target,
) -> None:
    raw = (command.args or "").strip()
    if not raw:
        await _show(message, bot, target)
        return
    if raw.lower() == "off":
        await _unlink(message, services, target)
        return
    user = message.from_user
    if user is None or message.sender_chat is not None:
        await answer_minor(
            message,
            _("Send /channelplay as yourself, not anonymously: I check that you run the channel."),
        )
        return
    try:
        ref = await _channel_ref(bot, message.chat.id, raw)
        if ref is None:
            await answer_minor(message, usage("channelplay"))
            return
        channel = await _find_channel(bot, ref)
        await _check_link(bot, channel, user.id)
        own = await services.players.snapshot(message.chat.id)
        if own.now is not None or own.pending:
            raise Refused(_("This group is playing its own stream: /end it first."))
    except Refused as refused:
        await answer_minor(message, str(refused))
        return
    title = _title(channel)
    linked = await services.channels.link(
        group_id=message.chat.id,
        group_title=message.chat.title or "",
        channel_id=channel.id,
        channel_title=title,
        linked_by=user.id,
    )
    await services.audit.record(
        f"tg:{user.id}",
        "channel.link",
        "channel",
        str(channel.id),
        before={"group_id": linked.previous_group},
        after={"group_id": message.chat.id},
    )
    if linked.previous_group is not None:
        await _tell(
            bot,
            services,
            i18n,
            linked.previous_group,
            lambda: _("This group no longer drives {title}: another group took it over.").format(
                title=title
            ),
        )
    await answer_done(
        message,
        _(
            "📡 This group now drives {title}: /play and the other playback commands play "
            "there. /channelplay off unlinks."
        ).format(title=title),
    )
    await nowplaying.show(channel.id)  # a channel already playing: its card comes here


async def _show(message: Message, bot: Bot, target: Target) -> None:
    if not target.linked:
        await message.answer(
            _(
                "This group plays in its own voice chat. To drive a channel instead: "
                "/channelplay @channel, /channelplay -100…, or /channelplay linked."
            )
        )
        return
    try:
        title = _title(await bot.get_chat(target.chat_id))
    except TelegramAPIError:
        title = str(target.chat_id)
    await message.answer(
        _("This group drives {title}. /channelplay off unlinks.").format(title=title)
    )


async def _unlink(message: Message, services: BotServices, target: Target) -> None:
    channel = await services.channels.unlink_group(message.chat.id)
    if channel is None:
        await answer_minor(message, _("This group is not linked to a channel."))
        return
    await services.audit.record(
        f"tg:{message.from_user.id if message.from_user else 0}",
        "channel.unlink",
        "channel",
        str(channel),
        before={"group_id": message.chat.id},
        after={"group_id": None},
    )
    await answer_done(
        message,
        _("Unlinked: this group's commands play in its own voice chat again; the channel's "
          "stream goes on (its administrators can /end it there)."),
    )  # fmt: skip


async def _tell(
    bot: Bot, services: BotServices, i18n: I18n, chat_id: int, render: Callable[[], str]
) -> None:
    """One line to a group other than the one the update came from, in its language."""
    locale = await chat_locale(
        services.chat_settings, chat_id, services.settings.i18n.default_locale
    )
    with in_locale(i18n, locale):
        line = render()
    try:
        await bot.send_message(chat_id, line)
    except TelegramAPIError as exc:
        log.info("could not tell %s about its channel: %s", chat_id, exc)


async def channelplay_in_channel(
    message: Message, command: CommandObject, services: BotServices, bot: Bot, i18n: I18n
) -> None:
    """Posted in the channel: ``off`` unlinks it from its group; nothing else is taken."""
    if (command.args or "").strip().lower() != "off":
        await answer_minor(
            message, _("Send /channelplay in the group that should drive this channel.")
        )
        return
    group = await services.channels.unlink_channel(message.chat.id)
    if group is not None:
        await services.audit.record(
            f"channel:{message.chat.id}",
            "channel.unlink",
            "channel",
            str(message.chat.id),
            before={"group_id": group},
            after={"group_id": None},
        )
        title = message.chat.title or str(message.chat.id)
        await _tell(
            bot,
            services,
            i18n,
            group,
            lambda: _(
                "The administrators of {title} unlinked it: this group's commands play in its "
                "own voice chat again."
            ).format(title=title),
        )


async def channel_gone(
    event: ChatMemberUpdated, services: BotServices, bot: Bot, i18n: I18n
) -> None:
    """The bot left or was removed from a channel: its group stops driving it."""
    group = await services.channels.unlink_channel(event.chat.id)
    if group is not None:
        title = event.chat.title or str(event.chat.id)
        await _tell(
            bot,
            services,
            i18n,
            group,
            lambda: _(
                "I was removed from {title}: this group's commands play in its own voice chat "
                "again."
            ).format(title=title),
        )


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="channels")
    router.message.register(channelplay, Command("channelplay"), flags=needs(Need.CONFIGURE))
    router.channel_post.register(channelplay_in_channel, Command("channelplay"))
    return router
