"""/play, /vplay and the playback controls: /skip /end /stop /pause /resume /seek /volume
/speed /loop."""

from __future__ import annotations

import math
from dataclasses import replace

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import ErrorCode, PlayerError
from bot.domain.models import LoopMode
from bot.domain.policy import VOLUME_MAX, VOLUME_MIN, valid_speed
from bot.domain.queue import QueueFull
from bot.sources.base import Playlist, SourceRequest, TelegramMedia
from bot.sources.tg_messages import MessageRef
from bot.telegram import actions
from bot.telegram.batch import batch_answer
from bot.telegram.commands import usage
from bot.telegram.errors import describe
from bot.telegram.formatting import (
    duration,
    parse_position,
    parse_speed,
    speed_label,
    track_title,
)
from bot.telegram.link_play import play_link
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.progress import ProgressMessage
from bot.telegram.rights import Need, needs
from bot.telegram.routers.common import answer_done, answer_minor, sender_id, sender_name
from bot.telegram.services import BotServices
from bot.telegram.targets import Target

#: longer /speed arguments are not parsed at all (the pattern takes at most "12.3456 x")
MAX_SPEED_TEXT = 16


def telegram_media(message: Message | None) -> TelegramMedia | None:
    """The playable attachment of a replied-to message, as the resolver wants it."""
    media = _attachment(message)
    if media is None or message is None:
        return None
    # where an assistant account finds it when the Bot API will not serve it (> 20 MB)
    return replace(media, message=MessageRef(message.chat.id, message.message_id))


def _attachment(message: Message | None) -> TelegramMedia | None:
    if message is None:
        return None
    if message.audio is not None:
        a = message.audio
        return TelegramMedia(
            a.file_id, "audio", a.file_size, a.file_name, a.mime_type, a.title, a.performer,
            a.duration,
        )  # fmt: skip
    if message.voice is not None:
        v = message.voice
        return TelegramMedia(
            v.file_id, "voice", v.file_size, None, v.mime_type, duration=v.duration
        )
    if message.video is not None:
        d = message.video
        return TelegramMedia(
            d.file_id, "video", d.file_size, d.file_name, d.mime_type, duration=d.duration
        )
    if message.video_note is not None:
        n = message.video_note
        return TelegramMedia(n.file_id, "video_note", n.file_size, duration=n.duration)
    if message.animation is not None:
        m = message.animation
        return TelegramMedia(
            m.file_id, "animation", m.file_size, m.file_name, m.mime_type, duration=m.duration
        )
    if message.document is not None:
        doc = message.document
        return TelegramMedia(doc.file_id, "document", doc.file_size, doc.file_name, doc.mime_type)
    return None


async def play(
    message: Message, command: CommandObject, services: BotServices, target: Target
) -> None:
    await _play(message, command, services, target, video=False)


async def vplay(
    message: Message, command: CommandObject, services: BotServices, target: Target
) -> None:
    """/vplay: picture and sound, fitted into the target chat's video quality."""
    await _play(message, command, services, target, video=True)


async def _play(
    message: Message,
    command: CommandObject,
    services: BotServices,
    target: Target,
    *,
    video: bool,
) -> None:
    chat_id = target.chat_id
    query = (command.args or "").strip()
    media = telegram_media(message.reply_to_message)
    if not query and media is None:
        await answer_minor(message, usage("vplay" if video else "play"))
        return
    # the cheap refusals first: nothing is fetched or probed for a request that cannot stay
    user = sender_id(message)
    # anonymous admins post as the group: each group is its own sender then
    wait = 0.0 if user in services.owners else services.play_rate.take(user or chat_id)
    if wait > 0:
        await answer_minor(
            message,
            _("You are adding tracks too fast; try again in {seconds} s.").format(
                seconds=math.ceil(wait)
            ),
        )
        return
    if await services.players.room(chat_id) <= 0:
        raise QueueFull(services.settings.player.queue_limit)
    quality: str | None = None
    if video:
        if not services.players.may_stream_video(chat_id):
            # refused before any download: no other chat's picture is degraded
            limit = str(services.settings.player.max_video_streams)
            raise PlayerError(ErrorCode.VIDEO_LIMIT, limit)
        quality = await services.video_quality(chat_id)
    request = SourceRequest(
        query=query,
        media=media,
        requested_by=sender_id(message) or None,
        requested_by_name=sender_name(message),
        video_quality=quality,
        chat_id=chat_id,
    )
    # a channel post gets no progress message (no chatter in a channel)
    progress = None if target.channel_post else ProgressMessage(message)
    link = services.resolver.streaming_link(request)
    try:
        if link is not None:
            await play_link(chat_id, services, request, link, progress)
            return
        resolved = await services.resolver.resolve(request, progress)
        if isinstance(resolved, Playlist):
            answer = await _queue_playlist(services, chat_id, resolved)
            if progress is not None:
                await progress.finish(answer)
            return
        outcome = await services.players.play(chat_id, resolved)
    except Exception as exc:
        text = describe(exc, channel=target.linked or target.channel_post)
        if text is None or progress is None or progress.message is None:
            raise
        await progress.finish(text)
        return
    if progress is None:
        return
    title = track_title(outcome.track)
    if outcome.started:
        answer = _("▶️ Now playing: {title} ({duration})").format(
            title=title, duration=duration(outcome.track.duration)
        )
    else:
        answer = _("🕒 Queued #{position}: {title} ({duration})").format(
            position=outcome.position, title=title, duration=duration(outcome.track.duration)
        )
    if video and not outcome.track.is_video:
        answer += "\n" + _("There is no video in that: it plays as audio.")
    await progress.finish(answer)


async def _queue_playlist(services: BotServices, chat_id: int, playlist: Playlist) -> str:
    """A listed playlist link: its entries queued in one atomic step, one answer."""
    outcome = await services.players.play_many(chat_id, playlist.tracks)
    return batch_answer(
        playlist.title,
        outcome,
        offered=len(playlist.tracks),
        skipped=playlist.skipped,
        limited_to=len(playlist.tracks) + playlist.skipped if playlist.more else None,
    )


async def skip(message: Message, services: BotServices, target: Target) -> None:
    await answer_action(message, await actions.skip(services.players, target.chat_id))


async def end(message: Message, services: BotServices, target: Target) -> None:
    await answer_action(message, await actions.stop(services.players, target.chat_id))


async def pause(
    message: Message, services: BotServices, nowplaying: NowPlayingCards, target: Target
) -> None:
    done = await actions.pause(services.players, target.chat_id)
    await answer_action(message, done)
    if done.changed:
        await nowplaying.refresh(target.chat_id)


async def resume(
    message: Message, services: BotServices, nowplaying: NowPlayingCards, target: Target
) -> None:
    done = await actions.resume(services.players, target.chat_id)
    await answer_action(message, done)
    if done.changed:
        await nowplaying.refresh(target.chat_id)


async def seek(
    message: Message, command: CommandObject, services: BotServices, target: Target
) -> None:
    position = parse_position(command.args or "")
    if position is None:
        await answer_minor(message, usage("seek"))
        return
    snapshot = await services.players.snapshot(target.chat_id)
    if snapshot.now is None:
        await answer_minor(message, _("Nothing is playing."))
        return
    total = snapshot.now.track.duration
    if total is not None and position >= total:
        await answer_minor(
            message,
            _("That is past the end of the track ({duration}).").format(duration=duration(total)),
        )
        return
    await services.players.seek(target.chat_id, position)
    await answer_done(message, _("⏩ Jumped to {position}.").format(position=duration(position)))


async def volume(
    message: Message, command: CommandObject, services: BotServices, target: Target
) -> None:
    raw = (command.args or "").strip()
    if not raw.isdecimal() or not VOLUME_MIN <= int(raw) <= VOLUME_MAX:
        await answer_minor(message, usage("volume"))
        return
    await services.players.set_volume(target.chat_id, int(raw))
    await answer_done(message, _("🔊 Volume: {volume}%").format(volume=int(raw)))


async def speed(
    message: Message,
    command: CommandObject,
    services: BotServices,
    nowplaying: NowPlayingCards,
    target: Target,
) -> None:
    """``/speed``: shows the chat's speed; ``/speed 1.5`` sets it (the player checks the
    range again and refuses it while a live stream plays)."""
    raw = (command.args or "").strip()
    if not raw:
        current = (await services.chat_settings.get(target.chat_id)).speed
        await answer_done(message, _("⏩ Speed: {speed}").format(speed=speed_label(current)))
        return
    value = parse_speed(raw) if len(raw) <= MAX_SPEED_TEXT else None
    if value is None or not valid_speed(value):
        await answer_minor(message, usage("speed"))
        return
    changed = await services.players.set_speed(target.chat_id, value)
    await answer_done(message, _("⏩ Speed: {speed}").format(speed=speed_label(value)))
    if changed:
        await nowplaying.refresh(target.chat_id)


async def loop(
    message: Message,
    command: CommandObject,
    services: BotServices,
    nowplaying: NowPlayingCards,
    target: Target,
) -> None:
    raw = (command.args or "").strip().lower()
    if raw and raw not in {m.value for m in LoopMode}:
        await answer_minor(message, usage("loop"))
        return
    done = await actions.loop(services.players, target.chat_id, LoopMode(raw) if raw else None)
    await answer_done(message, done.text)
    await nowplaying.refresh(target.chat_id)


async def answer_action(message: Message, done: actions.Done) -> None:
    """A control that changed nothing ("Nothing is playing.") is answered like a refusal."""
    if done.changed:
        await answer_done(message, done.text)
    else:
        await answer_minor(message, done.text)


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="playback")
    router.message.register(play, Command("play"), flags=needs(Need.PLAY))
    router.message.register(vplay, Command("vplay"), flags=needs(Need.PLAY))
    control = needs(Need.CONTROL)
    router.message.register(skip, Command("skip"), flags=control)
    router.message.register(end, Command("end", "stop"), flags=control)
    router.message.register(pause, Command("pause"), flags=control)
    router.message.register(resume, Command("resume"), flags=control)
    router.message.register(seek, Command("seek"), flags=control)
    router.message.register(volume, Command("volume"), flags=control)
    router.message.register(speed, Command("speed"), flags=control)
    router.message.register(loop, Command("loop"), flags=control)
    # posts in a channel: only its administrators can post (bot.telegram.channel_posts)
    for handler, names in CHANNEL_COMMANDS:
        router.channel_post.register(handler, Command(*names))
    return router


#: the commands a channel's administrators may post in the channel
CHANNEL_COMMANDS = (
    (play, ("play",)),
    (vplay, ("vplay",)),
    (skip, ("skip",)),
    (end, ("end", "stop")),
    (pause, ("pause",)),
    (resume, ("resume",)),
    (seek, ("seek",)),
    (volume, ("volume",)),
    (speed, ("speed",)),
    (loop, ("loop",)),
)
