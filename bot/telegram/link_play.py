"""/play with a streaming-service link (Spotify, Apple Music, Deezer, Yandex Music, Tidal).

The page names the tracks; each is searched and the first result is queued.  The answer
says what the link asked for and which result was chosen, so a wrong match is visible.
An album or playlist is queued one track at a time as each is found (the first can start
while the rest are searched), up to ``player.playlist_limit`` and the queue's room, in one
message edited as it goes.  Tracks not found are skipped and counted.
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.sources.base import SourceError, SourceRequest
from bot.sources.page_meta import Listing
from bot.sources.streaming import ServiceLink
from bot.telegram.errors import describe
from bot.telegram.formatting import duration, short_title
from bot.telegram.progress import ProgressMessage
from bot.telegram.services import BotServices

#: failures that would repeat for every other track of the list: stop at the first
STOP_CODES = frozenset({"bot_check", "unavailable", "busy", "timeout", "unreachable"})


def _started_or_queued(started: bool, position: int, title: str, length: float | None) -> str:
    if started:
        return _("▶️ Now playing: {title} ({duration})").format(
            title=short_title(title), duration=duration(length)
        )
    return _("🕒 Queued #{position}: {title} ({duration})").format(
        position=position, title=short_title(title), duration=duration(length)
    )


async def play_link(
    chat_id: int,
    services: BotServices,
    request: SourceRequest,
    link: ServiceLink,
    progress: ProgressMessage | None,
) -> None:
    """``chat_id``: whose queue (a group's linked channel, with /channelplay);
    ``progress``: None for a channel post (no chatter in a channel).  Raises SattvaError
    for the chat's error sentence (the caller phrases it)."""
    listing = await services.resolver.read_link(link, request, progress)
    if listing.kind == "track":
        await _one(chat_id, services, request, link, listing, progress)
    else:
        await _many(chat_id, services, request, link, listing, progress)


async def _note(progress: ProgressMessage | None, text: str) -> None:
    if progress is not None:
        await progress.note(text)


async def _finish(progress: ProgressMessage | None, text: str) -> None:
    if progress is not None:
        await progress.finish(text)


async def _one(
    chat_id: int,
    services: BotServices,
    request: SourceRequest,
    link: ServiceLink,
    listing: Listing,
    progress: ProgressMessage | None,
) -> None:
    wanted = listing.entries[0]
    track = await services.resolver.match(wanted, request, progress)
    outcome = await services.players.play(chat_id, track)
    first = _started_or_queued(
        outcome.started, outcome.position, outcome.track.title, outcome.track.duration
    )
    chosen = _("🔎 {service}: {wanted}; chosen match: {match}").format(
        service=link.service, wanted=short_title(wanted.label()), match=short_title(track.title)
    )
    await _finish(progress, f"{first}\n{chosen}")


async def _many(
    chat_id: int,
    services: BotServices,
    request: SourceRequest,
    link: ServiceLink,
    listing: Listing,
    progress: ProgressMessage | None,
) -> None:
    limit = services.settings.player.playlist_limit
    wanted = listing.entries[:limit]
    title = short_title(listing.title)
    queued = missing = 0
    full = False
    stopped: SourceError | None = None
    for index, entry in enumerate(wanted):
        await _note(
            progress,
            _("⏳ {service} “{title}”: {done} of {total} tracks queued…").format(
                service=link.service, title=title, done=queued, total=len(wanted)
            ),
        )
        if await services.players.room(chat_id) <= 0:
            full = True
            break
        try:
            track = await services.resolver.match(entry, request)
        except SourceError as exc:
            if exc.code in STOP_CODES:
                if queued == 0 and index == 0:
                    raise
                stopped = exc
                break
            missing += 1
            continue
        await services.players.play(chat_id, track)
        queued += 1
    if queued == 0 and stopped is None and not full:
        raise SourceError("not_found", "no track of the list was found")
    lines = [
        _("🕒 Queued {count} of {total} tracks from {service} “{title}”.").format(
            count=queued, total=len(listing.entries), service=link.service, title=title
        )
    ]
    if missing:
        lines.append(_("{count} were not found and were skipped.").format(count=missing))
    if len(listing.entries) > limit:
        lines.append(_("Only the first {limit} are taken.").format(limit=limit))
    if full:
        lines.append(_("The queue is full; the rest was not queued."))
    if stopped is not None:
        lines.append(describe(stopped) or "")
    await _finish(progress, "\n".join(lines))
