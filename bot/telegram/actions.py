"""The playback controls a command and a now-playing button share: one implementation each
of pause, resume, skip, stop and loop, returning the sentence to answer with.

Rights are checked before these run (``bot.telegram.rights``); what differs between the two
surfaces (a button first checks that its track is still playing, a command refreshes the
card) stays in the routers.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.utils.i18n import gettext as _

from bot.domain.control import Players
from bot.domain.models import LoopMode
from bot.telegram.formatting import short_title
from bot.telegram.keyboards import loop_label, next_choice

LOOP_ORDER = (LoopMode.OFF, LoopMode.TRACK, LoopMode.QUEUE)


@dataclass(frozen=True, slots=True)
class Done:
    text: str
    #: the player's state changed (the now-playing card is worth redrawing)
    changed: bool


async def pause(players: Players, chat_id: int) -> Done:
    if await players.pause(chat_id):
        return Done(_("⏸ Paused."), True)
    return Done(_("Nothing is playing."), False)


async def resume(players: Players, chat_id: int) -> Done:
    if await players.resume(chat_id):
        return Done(_("▶️ Resumed."), True)
    return Done(_("Nothing is paused."), False)


async def stop(players: Players, chat_id: int) -> Done:
    await players.stop(chat_id)
    return Done(_("⏹ Stopped; the queue is cleared."), True)


async def skip(players: Players, chat_id: int, *, brief: bool = False) -> Done:
    """``brief``: a button's answer (a short toast) leaves out what plays next."""
    if (await players.snapshot(chat_id)).now is None:
        return Done(_("Nothing is playing."), False)
    following = await players.skip(chat_id)
    if brief:
        return Done(_("⏭ Skipped."), True)
    if following is None:
        return Done(_("⏭ Skipped. The queue is empty."), True)
    title = short_title(following.track.title)
    return Done(_("⏭ Skipped. Now playing: {title}").format(title=title), True)


async def loop(players: Players, chat_id: int, mode: LoopMode | None = None) -> Done:
    """Sets ``mode``; with None, the next one after the current (off, track, queue)."""
    if mode is None:
        mode = next_choice(LOOP_ORDER, (await players.snapshot(chat_id)).loop)
    await players.set_loop(chat_id, mode)
    return Done(loop_label(mode), True)
