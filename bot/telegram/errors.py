"""Expected failures phrased for the chat, and the dispatcher's last-resort error handler.

Handlers let domain errors (SourceError, QueueError, EngineError, PlayerError) propagate;
this module turns each into one short localised sentence.  Anything else is logged with the
update id and answered with "something went wrong"; the dispatcher keeps running.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import PlayerError, PlayerErrorCode
from bot.engines.base import EngineError
from bot.sources.base import SourceError
from bot.storage.queue import (
    Fenced,
    QueueError,
    QueueFull,
    QueuePositionError,
    StorageUnavailable,
)
from bot.telegram.throttle import minor_answer

log = logging.getLogger(__name__)


def source_error_text(exc: SourceError) -> str:
    texts = {
        "empty": _("Nothing to play: give a link or search words, or reply to an audio file."),
        "unsupported": _("This kind of link is not supported."),
        "private_network": _("That address is on a private network; it is refused."),
        "unreachable": _("Could not reach that address."),
        "not_audio": _("There is no audio to play in that."),
        "too_long": _("That track is too long."),
        "too_big": _("That file is too big."),
        "timeout": _("Fetching that took too long; try again."),
        "not_found": _("Nothing was found."),
        "unavailable": _("That source is unavailable right now."),
        "busy": _("Busy fetching other requests; try again in a moment."),
        "cache_full": _(
            "The download space is full of queued files; try again when some have played."
        ),
        "bad_file": _("Telegram gave an unsafe location for that file; it was not downloaded."),
    }
    return texts.get(exc.code, _("That cannot be played."))


def queue_error_text(exc: QueueError) -> str:
    if isinstance(exc, QueueFull):
        return _("The queue is full ({limit} tracks).").format(limit=exc.limit)
    if isinstance(exc, QueuePositionError):
        return _("There is no track #{position} (the queue has {length}).").format(
            position=exc.position, length=exc.length
        )
    if isinstance(exc, Fenced):
        return _("This chat is being handed to another process; try again in a moment.")
    if isinstance(exc, StorageUnavailable):
        return _("Storage is unavailable, try again in a moment.")
    return _("The queue could not be changed; try again.")


def engine_error_text(exc: EngineError) -> str:
    texts = {
        "no_active_call": _("Start a voice chat in this group first."),
        "not_allowed": _("The assistant is not allowed to join the voice chat."),
        "media_error": _("This media cannot be played."),
        "no_rtmp_target": _(
            "This chat has no RTMP stream set: an administrator sets one with /rtmp in a "
            "private message to me."
        ),
        "flood_wait": _("The assistant must wait before joining (Telegram limit); try later."),
        "banned": _("The assistant is banned in this group; unban it and try again."),
        "not_member": _(
            "The assistant cannot join this group; make the bot an admin allowed to invite."
        ),
        "channels_too_much": _("The assistant is in too many groups; try again shortly."),
        "no_assistant": _("No assistant account is available right now; try again later."),
    }
    return texts.get(exc.code, _("Playback failed; try again."))


def video_limit_text() -> str:
    return _(
        "Too many videos are streaming right now, so this one cannot start. "
        "Send /play with the same link or reply to hear its sound instead."
    )


def player_error_text(exc: PlayerError) -> str:
    texts = {
        PlayerErrorCode.NOTHING_PLAYING: _("Nothing is playing."),
        PlayerErrorCode.BAD_POSITION: _("That position is outside the track."),
        PlayerErrorCode.NOT_SEEKABLE: _("A live stream cannot be rewound or skipped ahead."),
        PlayerErrorCode.BAD_VOLUME: _("Usage: /volume <1-200>."),
        PlayerErrorCode.VIDEO_LIMIT: video_limit_text(),
    }
    return texts.get(exc.code, _("That cannot be done now."))


def describe(exc: BaseException) -> str | None:
    """The chat sentence for an expected failure; None for a bug."""
    if isinstance(exc, SourceError):
        return source_error_text(exc)
    if isinstance(exc, QueueError):
        return queue_error_text(exc)
    if isinstance(exc, EngineError):
        return engine_error_text(exc)
    if isinstance(exc, PlayerError):
        return player_error_text(exc)
    return None


async def on_error(event: ErrorEvent) -> bool:
    exc = event.exception
    update = event.update
    text = describe(exc)
    if isinstance(exc, TelegramForbiddenError):
        log.info("update %s: bot cannot write to the chat: %s", update.update_id, exc)
        return True
    if text is None:
        log.error("update %s failed", update.update_id, exc_info=exc)
        text = _("Something went wrong. Try again.")
    else:
        log.info("update %s: %s: %s", update.update_id, type(exc).__name__, exc)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message is not None:
            user = update.message.from_user
            # an error sentence: behind the chat's real answers, merged when the budget is spent
            with minor_answer(user.id if user is not None else 0):
                await update.message.answer(text)
    except TelegramAPIError as answer_exc:
        log.warning("update %s: could not answer: %s", update.update_id, answer_exc)
    return True


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
