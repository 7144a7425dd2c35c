"""The command list (for /help and setMyCommands) and each command's usage line."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.policy import SPEED_MAX, SPEED_MIN, VOLUME_MAX, VOLUME_MIN
from bot.telegram.i18n import SUPPORTED_LOCALES, in_locale

log = logging.getLogger(__name__)


def command_list() -> list[tuple[str, str]]:
    """(command, description) in the current locale, in the order /help shows them."""
    return [
        ("play", _("play a link, search words, or the audio you reply to")),
        ("vplay", _("play a video (link, search words or the video you reply to)")),
        ("queue", _("show the queue")),
        ("now", _("show what is playing")),
        ("skip", _("skip the current track")),
        ("pause", _("pause playback")),
        ("resume", _("resume playback")),
        ("end", _("stop playback and clear the queue (also /stop)")),
        ("seek", _("jump to a position, e.g. /seek 1:30")),
        ("volume", _("set the volume, {low}-{high}").format(low=VOLUME_MIN, high=VOLUME_MAX)),
        (
            "speed",
            _("playback speed, {low}-{high} (pitch unchanged)").format(
                low=SPEED_MIN, high=SPEED_MAX
            ),
        ),
        ("loop", _("loop off, the track, or the queue")),
        ("shuffle", _("shuffle the queue")),
        ("remove", _("remove a queued track by its number")),
        ("move", _("move a queued track to another position")),
        ("clear", _("empty the queue; the current track plays on")),
        ("playlist", _("your saved playlists: list, save, add, play, show, remove")),
        ("settings", _("chat settings (administrators)")),
        ("channelplay", _("drive a channel's stream from this group (administrators)")),
        ("auth", _("allow a user to control playback (administrators)")),
        ("unauth", _("take that right back (administrators)")),
        ("authlist", _("list the users allowed to control playback")),
        ("lang", _("set the chat language: en, ru, uk")),
        ("rtmp", _("stream a chat to an RTMP URL and key (in a private message)")),
        ("help", _("this list")),
    ]


def usage(command: str) -> str:
    lines = {
        "play": _("Usage: /play <link or search words>, or reply /play to an audio message."),
        "vplay": _("Usage: /vplay <link or search words>, or reply /vplay to a video."),
        "seek": _("Usage: /seek mm:ss (for example /seek 1:30)."),
        "volume": _("Usage: /volume <{low}-{high}>.").format(low=VOLUME_MIN, high=VOLUME_MAX),
        "speed": _(
            "Usage: /speed <{low}-{high}> (for example /speed 1.25); /speed alone shows the "
            "current speed."
        ).format(low=SPEED_MIN, high=SPEED_MAX),
        "loop": _("Usage: /loop [off|track|queue]."),
        "remove": _("Usage: /remove <number in the queue>."),
        "move": _("Usage: /move <from> <to> (numbers in the queue)."),
        "queue": _("Usage: /queue [page]."),
        "auth": _("Usage: reply /auth to a user's message, or /auth <user id>."),
        "unauth": _("Usage: reply /unauth to a user's message, or /unauth <user id>."),
        "lang": _("Usage: /lang <en|ru|uk|auto>."),
        "broadcast": _("Usage: /broadcast <text>."),
        "channelplay": _("Usage: /channelplay <@channel | -100id | linked | off>."),
    }
    return lines[command]


def help_text() -> str:
    lines = [_("Sattva plays music in this group's voice chat. Commands:"), ""]
    lines += [f"/{name} — {description}" for name, description in command_list()]
    return "\n".join(lines)


async def set_commands(bot: Bot, i18n: I18n) -> None:
    """Registers the command menu in every supported language (and the default)."""
    with in_locale(i18n, i18n.default_locale):
        await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in command_list()])
    for locale in SUPPORTED_LOCALES:
        with in_locale(i18n, locale):
            await bot.set_my_commands(
                [BotCommand(command=c, description=d) for c, d in command_list()],
                language_code=locale,
            )
