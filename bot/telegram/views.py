"""Texts built from a player snapshot: the queue listing and the now-playing card."""

from __future__ import annotations

import math

from aiogram.utils.i18n import gettext as _

from bot.domain.control import ChatSnapshot
from bot.domain.policy import SPEED_NORMAL
from bot.telegram.formatting import duration, progress_bar, speed_label, track_title

QUEUE_PAGE_SIZE = 10


def now_line(snapshot: ChatSnapshot) -> str | None:
    if snapshot.now is None:
        return None
    track = snapshot.now.track
    values = {
        "title": track_title(track),
        "position": duration(snapshot.position or 0.0),
        "duration": duration(track.duration),
    }
    if snapshot.now.paused:
        return _("⏸ Paused: {title} — {position} / {duration}").format(**values)
    return _("▶️ Now playing: {title} — {position} / {duration}").format(**values)


def queue_pages(snapshot: ChatSnapshot) -> int:
    return max(1, math.ceil(len(snapshot.pending) / QUEUE_PAGE_SIZE))


def queue_text(snapshot: ChatSnapshot, page: int) -> str:
    """The track now playing first, then the pending tracks of ``page`` (1-based), in order."""
    current = now_line(snapshot)
    if current is None and not snapshot.pending:
        return _("The queue is empty.")
    lines = [current or _("Nothing is playing.")]
    if snapshot.pending:
        first = (page - 1) * QUEUE_PAGE_SIZE
        chunk = snapshot.pending[first : first + QUEUE_PAGE_SIZE]
        lines += ["", _("Up next ({count}):").format(count=len(snapshot.pending))]
        lines += [
            f"{first + i}. {track_title(t)} ({duration(t.duration)})"
            for i, t in enumerate(chunk, start=1)
        ]
    return "\n".join(lines)


def card_text(snapshot: ChatSnapshot) -> str:
    if snapshot.now is None:
        return _("Nothing is playing.")
    track = snapshot.now.track
    lines = [now_line(snapshot) or ""]
    bar = progress_bar(snapshot.position, track.duration)
    if bar:
        lines.append(bar)
    if snapshot.speed != SPEED_NORMAL and not track.is_live:
        lines.append(_("⏩ Speed: {speed}").format(speed=speed_label(snapshot.speed)))
    if track.requested_by_name:
        lines.append(_("Requested by {name}").format(name=track.requested_by_name))
    if snapshot.pending:
        title = track_title(snapshot.pending[0])
        more = len(snapshot.pending) - 1
        lines.append(
            _("Up next: {title} (+{more} more)").format(title=title, more=more)
            if more
            else _("Up next: {title}").format(title=title)
        )
    return "\n".join(lines)
