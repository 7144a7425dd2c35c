"""Expected failures phrased for the chat, and the dispatcher's last-resort error handler.

Handlers let expected failures (``bot.domain.errors.SattvaError``: from the sources, the
queue store, the engine, the player) propagate; this module turns each code into one short
localised sentence.  Anything else is logged with the
update id and answered with "something went wrong"; the dispatcher keeps running.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import ErrorCode, SattvaError
from bot.telegram.commands import usage
from bot.telegram.services import BotServices
from bot.telegram.throttle import minor_answer

log = logging.getLogger(__name__)


def _messages() -> dict[ErrorCode, str]:
    """One chat sentence per code; placeholders come from the error's ``params``.

    Built per call: ``_`` translates into the language of the update being handled."""
    return {
        ErrorCode.EMPTY: _(
            "Nothing to play: give a link or search words, or reply to an audio file."
        ),
        ErrorCode.UNSUPPORTED: _("This kind of link is not supported."),
        ErrorCode.PRIVATE_NETWORK: _("That address is on a private network; it is refused."),
        ErrorCode.UNREACHABLE: _("Could not reach that address."),
        ErrorCode.NOT_AUDIO: _("There is no audio to play in that."),
        ErrorCode.TOO_LONG: _("That track is too long."),
        ErrorCode.TOO_BIG: _("That file is too big."),
        ErrorCode.TIMEOUT: _("Fetching that took too long; try again."),
        ErrorCode.NOT_FOUND: _("Nothing was found."),
        ErrorCode.UNAVAILABLE: _("That source is unavailable right now."),
        ErrorCode.BAD_FILE: _(
            "Telegram gave an unsafe location for that file; it was not downloaded."
        ),
        ErrorCode.BUSY: _("Busy fetching other requests; try again in a moment."),
        ErrorCode.CACHE_FULL: _(
            "The download space is full of queued files; try again when some have played."
        ),
        ErrorCode.BOT_CHECK: _(
            "YouTube asks this server to prove it is not a bot, so YouTube cannot be played "
            "right now; the bot's owner can fix it with YouTube cookies."
        ),
        ErrorCode.LINK_UNREADABLE: _(
            "Could not read this {service} link: its page does not show what it plays."
        ),
        ErrorCode.NO_READER: _(
            "Files over 20 MB and t.me message links are read by an assistant account, and "
            "none is running here."
        ),
        ErrorCode.NOT_VISIBLE: _(
            "No assistant account can see that message: add one to that chat (or make the "
            "chat public), then try again."
        ),
        ErrorCode.QUEUE_ERROR: _("The queue could not be changed; try again."),
        ErrorCode.QUEUE_FULL: _("The queue is full ({limit} tracks)."),
        ErrorCode.NO_SUCH_TRACK: _("There is no track #{position} (the queue has {length})."),
        ErrorCode.STORAGE_UNAVAILABLE: _("Storage is unavailable, try again in a moment."),
        ErrorCode.FENCED: _("This chat is being handed to another process; try again in a moment."),
        ErrorCode.ENGINE_ERROR: _("Playback failed; try again."),
        ErrorCode.NO_ACTIVE_CALL: _("Start a voice chat in this group first."),
        ErrorCode.NOT_ALLOWED: _("The assistant is not allowed to join the voice chat."),
        ErrorCode.BANNED: _("The assistant is banned in this group; unban it and try again."),
        ErrorCode.NOT_MEMBER: _(
            "The assistant cannot join this group; make the bot an admin allowed to invite."
        ),
        ErrorCode.CHANNELS_TOO_MUCH: _("The assistant is in too many groups; try again shortly."),
        ErrorCode.NO_ASSISTANT: _("No assistant account is available right now; try again later."),
        ErrorCode.MEDIA_ERROR: _("This media cannot be played."),
        ErrorCode.NO_RTMP_TARGET: _(
            "This chat has no RTMP stream set: an administrator sets one with /rtmp in a "
            "private message to me."
        ),
        ErrorCode.FLOOD_WAIT: _("Telegram asks the assistant to wait {seconds} s; try again then."),
        ErrorCode.CALL_TIMEOUT: _("Playback failed; try again."),
        ErrorCode.CONNECTION: _("Playback failed; try again."),
        ErrorCode.NOTHING_PLAYING: _("Nothing is playing."),
        ErrorCode.BAD_POSITION: _("That position is outside the track."),
        ErrorCode.NOT_SEEKABLE: _("A live stream cannot be rewound or skipped ahead."),
        ErrorCode.BAD_VOLUME: usage("volume"),
        ErrorCode.BAD_SPEED: usage("speed"),
        ErrorCode.LIVE_SPEED: _("A live stream always plays at normal speed."),
        ErrorCode.VIDEO_LIMIT: video_limit_text(),
    }


def video_limit_text() -> str:
    """The /vplay refusal past player.max_video_streams, offering the sound instead."""
    return _(
        "Too many videos are streaming right now, so this one cannot start. "
        "Send /play with the same link or reply to hear its sound instead."
    )


def _channel_messages() -> dict[ErrorCode, str]:
    """The sentences that name the place of the stream, for a channel's stream."""
    return {
        ErrorCode.NO_ACTIVE_CALL: _("Start a video chat in the channel first."),
        ErrorCode.NOT_ALLOWED: _("The assistant is not allowed to join the channel's video chat."),
        ErrorCode.BANNED: _("The assistant is banned in the channel; unban it and try again."),
        ErrorCode.NOT_MEMBER: _(
            "The assistant cannot join the channel; make the bot an admin allowed to invite "
            "users, or add the assistant to the channel."
        ),
    }


def describe(exc: BaseException, *, channel: bool = False) -> str | None:
    """The chat sentence for an expected failure; None for a bug.  ``channel``: the stream
    is a channel's (a linked group's or a channel post's)."""
    if not isinstance(exc, SattvaError):
        return None
    texts = _messages()
    if channel:
        texts.update(_channel_messages())
    return texts[exc.code].format(**exc.params)


async def _drives_channel(update: Update, services: BotServices | None) -> bool:
    if update.channel_post is not None:
        return True
    message = update.message
    if message is None or services is None:
        return False
    try:
        return await services.channels.channel_of(message.chat.id) is not None
    except Exception:  # storage down: the plain sentence will do
        return False


async def on_error(event: ErrorEvent, services: BotServices | None = None) -> bool:
    exc = event.exception
    update = event.update
    text = describe(exc, channel=await _drives_channel(update, services))
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
        elif update.channel_post is not None:
            # a command posted in a channel: the one answer it gets is a reply to a failure
            with minor_answer(0):
                await update.channel_post.reply(text)
    except TelegramAPIError as answer_exc:
        log.warning("update %s: could not answer: %s", update.update_id, answer_exc)
    return True


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
