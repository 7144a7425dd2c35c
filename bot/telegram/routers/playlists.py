"""/playlist: each user's saved playlists (list, save, add, play, show, remove).

The playlists are the user's, wherever they are used: ``save`` takes the current queue of
the chat it is sent in, ``play`` queues a playlist there in one atomic batch (with the
chat's /play rights and limits), and the rest work in any chat, a private one included.
A saved track is its title and where it came from; its stream address is resolved when it
is about to play, as for a playlist link.
"""

from __future__ import annotations

import math

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.domain.models import MediaKind, SourceKind, Track
from bot.domain.queue import QueueFull
from bot.sources.base import Playlist, SourceError, SourceRequest
from bot.sources.guard import split_url
from bot.sources.library import LIBRARY_PREFIX
from bot.storage.playlists import (
    NoSuchEntry,
    NoSuchPlaylist,
    PlaylistError,
    PlaylistFull,
    SavedTrack,
    Stored,
    TooManyPlaylists,
    check_name,
)
from bot.telegram.batch import batch_answer
from bot.telegram.errors import describe
from bot.telegram.formatting import duration, short_title
from bot.telegram.permissions import Permissions
from bot.telegram.progress import ProgressMessage
from bot.telegram.rights import Need, allowed, refusal
from bot.telegram.routers.common import answer_minor, sender_id, sender_name
from bot.telegram.routers.elsewhere import elsewhere, streams_in
from bot.telegram.services import BotServices
from bot.telegram.targets import Target

#: tracks listed by /playlist show; the rest are counted
SHOW_LINES = 40


def usage() -> str:
    return _(
        "Usage: /playlist list | save NAME | add NAME <link or search words> | play NAME | "
        "show NAME | remove NAME [number]."
    )


def savable(source: str) -> bool:
    """A source that can be found again later: a library name or an http(s) address (a
    Telegram file or a stream the bot downloaded cannot)."""
    if source.lower().startswith(LIBRARY_PREFIX):
        return True
    try:
        split_url(source)
    except SourceError:
        return False
    return True


def to_saved(track: Track) -> SavedTrack:
    video = track.media_kind is MediaKind.VIDEO
    return SavedTrack(track.title, track.source, track.duration, track.is_live, video)


def to_track(saved: SavedTrack, message: Message, quality: str) -> Track:
    """A saved track queued again: no stream address yet (resolved when it is due); a
    video one as video in ``quality``, the box of the chat it now plays in."""
    library = saved.source.lower().startswith(LIBRARY_PREFIX)
    return Track(
        media_kind=MediaKind.VIDEO if saved.video else MediaKind.AUDIO,
        quality=quality if saved.video else None,
        title=saved.title,
        source=saved.source,
        media="",
        kind=SourceKind.LIBRARY if library else SourceKind.URL,
        duration=saved.duration,
        requested_by=sender_id(message) or None,
        requested_by_name=sender_name(message),
        is_live=saved.is_live,
    )


async def playlist(
    message: Message,
    command: CommandObject,
    services: BotServices,
    permissions: Permissions,
    bot: Bot,
    target: Target,
) -> None:
    words = (command.args or "").split(maxsplit=2)
    action = words[0].lower() if words else "list"
    user = sender_id(message)
    if not user:  # an anonymous admin or a channel: no user to keep playlists for
        await answer_minor(message, _("Saved playlists belong to users; write as yourself."))
        return
    try:
        if not words or (action == "list" and len(words) == 1):
            await message.answer(await _list(services, user))
        elif action in ("save", "play") and len(words) == 2:
            if not streams_in(message.chat.type):
                await elsewhere(message)
            elif action == "save":
                await message.answer(await _save(services, target, user, words[1]))
            elif await allowed(
                permissions,
                Need.PLAY,
                bot,
                message.chat.id,
                user,
                target.chat_id if target.linked else None,
            ):
                await message.answer(await _play(services, message, target, user, words[1]))
            else:
                await answer_minor(message, refusal(Need.PLAY))
        elif action == "add" and len(words) == 3:
            await _add(services, message, user, words[1], words[2])
        elif action == "show" and len(words) == 2:
            await message.answer(await _show(services, user, words[1]))
        elif action == "remove" and len(words) in (2, 3):
            await message.answer(await _remove(services, user, words[1], words[2:]))
        else:
            await answer_minor(message, usage())
    except PlaylistError as exc:
        await answer_minor(message, refused(exc))


def refused(exc: PlaylistError) -> str:
    """The chat's sentence for a refused playlist change."""
    if isinstance(exc, NoSuchPlaylist):
        return _("You have no playlist named {name}.").format(name=exc.name)
    if isinstance(exc, TooManyPlaylists):
        return _("You can keep at most {limit} playlists; remove one first.").format(
            limit=exc.limit
        )
    if isinstance(exc, PlaylistFull):
        return _("{name} is full ({limit} tracks).").format(name=exc.name, limit=exc.limit)
    return _("A playlist name is one word of up to 32 letters, digits, - or _.")


async def _check_room(services: BotServices, user: int, name: str) -> None:
    """The cheap refusals before anything is fetched: no room for another playlist, or
    this one full (``append`` checks again, atomically, when it stores)."""
    cfg = services.settings.playlists
    owned = await services.playlists.summaries(user)
    mine = next((p for p in owned if p.name.casefold() == name.casefold()), None)
    if mine is None and len(owned) >= cfg.max_per_user:
        raise TooManyPlaylists(cfg.max_per_user)
    if mine is not None and mine.tracks >= cfg.max_tracks:
        raise PlaylistFull(mine.name, cfg.max_tracks)


async def _list(services: BotServices, user: int) -> str:
    found = await services.playlists.summaries(user)
    if not found:
        return _("You have no saved playlists. Save this chat's queue with /playlist save NAME.")
    lines = [_("Your playlists:")]
    lines += [f"{p.name}: {p.tracks}" for p in found]
    return "\n".join(lines)


async def _save(services: BotServices, target: Target, user: int, name: str) -> str:
    """The queue of the chat the command drives (a linked channel's, from its group)."""
    check_name(name)
    snap = await services.players.snapshot(target.chat_id)
    queued = ([snap.now.track] if snap.now is not None else []) + list(snap.pending)
    if not queued:
        return _("Nothing is queued here to save.")
    kept = [to_saved(t) for t in queued if savable(t.source)]
    cfg = services.settings.playlists
    lines = []
    stored: Stored | None = None
    if kept:
        stored = await services.playlists.save(
            user, name, kept, max_playlists=cfg.max_per_user, max_tracks=cfg.max_tracks
        )
        lines.append(_("💾 Saved as {name}: {count}.").format(count=stored.added, name=stored.name))
        if stored.dropped:
            lines.append(
                _("A playlist holds at most {limit} tracks: {count} more were left out.").format(
                    limit=cfg.max_tracks, count=stored.dropped
                )
            )
    if len(kept) < len(queued):
        lines.append(
            _("Not saved (Telegram files cannot be found again later): {count}.").format(
                count=len(queued) - len(kept)
            )
        )
    return "\n".join(lines)


async def _add(services: BotServices, message: Message, user: int, name: str, query: str) -> None:
    check_name(name)
    await _check_room(services, user, name)
    wait = 0.0 if user in services.owners else services.play_rate.take(user)
    if wait > 0:
        await message.answer(
            _("You are adding tracks too fast; try again in {seconds} s.").format(
                seconds=math.ceil(wait)
            )
        )
        return
    request = SourceRequest(
        query=query.strip(),
        requested_by=user,
        requested_by_name=sender_name(message),
        chat_id=message.chat.id,
    )
    progress = ProgressMessage(message)
    try:
        found = await services.resolver.resolve(request, progress)
    except Exception as exc:
        text = describe(exc)
        if text is None:
            raise
        await progress.finish(text)
        return
    tracks = found.tracks if isinstance(found, Playlist) else (found,)
    kept = [to_saved(t) for t in tracks if savable(t.source)]
    if not kept:
        await progress.finish(
            _("Not saved (Telegram files cannot be found again later): {count}.").format(
                count=len(tracks)
            )
        )
        return
    cfg = services.settings.playlists
    try:
        stored = await services.playlists.append(
            user, name, kept, max_playlists=cfg.max_per_user, max_tracks=cfg.max_tracks
        )
    except PlaylistError as exc:  # filled up or created elsewhere meanwhile
        await progress.finish(refused(exc))
        return
    lines = [_("💾 Added to {name}: {count}.").format(count=stored.added, name=stored.name)]
    if stored.dropped:
        lines.append(
            _("A playlist holds at most {limit} tracks: {count} more were left out.").format(
                limit=cfg.max_tracks, count=stored.dropped
            )
        )
    await progress.finish("\n".join(lines))


async def _play(
    services: BotServices, message: Message, target: Target, user: int, name: str
) -> str:
    stored_name, saved = await services.playlists.tracks(user, name)
    if not saved:
        return _("{name} is empty.").format(name=stored_name)
    chat_id = target.chat_id
    if await services.players.room(chat_id) <= 0:
        raise QueueFull(services.settings.player.queue_limit)
    quality = await services.video_quality(chat_id)
    tracks = [to_track(s, message, quality) for s in saved]
    outcome = await services.players.play_many(chat_id, tracks)
    return batch_answer(stored_name, outcome, offered=len(tracks))


async def _show(services: BotServices, user: int, name: str) -> str:
    stored_name, saved = await services.playlists.tracks(user, name)
    if not saved:
        return _("{name} is empty.").format(name=stored_name)
    lines = [f"📃 {stored_name}:"]
    for n, s in enumerate(saved[:SHOW_LINES], start=1):
        lines.append(f"{n}. {short_title(s.title)} ({duration(s.duration)})")
    if len(saved) > SHOW_LINES:
        lines.append(_("… and {count} more.").format(count=len(saved) - SHOW_LINES))
    return "\n".join(lines)


async def _remove(services: BotServices, user: int, name: str, rest: list[str]) -> str:
    if not rest:
        stored_name = await services.playlists.delete(user, name)
        return _("🗑 Deleted the playlist {name}.").format(name=stored_name)
    if not rest[0].isdecimal():
        return usage()
    try:
        gone = await services.playlists.remove_track(user, name, int(rest[0]))
    except NoSuchEntry as exc:
        return _("There is no track #{position} in {name} (it has {length}).").format(
            position=exc.position, name=name, length=exc.length
        )
    return _("🗑 Removed {title} from {name}.").format(title=short_title(gone.title), name=name)


def build_router() -> Router:
    router = Router(name="playlists")
    router.message.register(playlist, Command("playlist"))
    return router
