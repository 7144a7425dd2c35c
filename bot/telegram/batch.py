"""The one answer to a batch of tracks queued at once: a playlist link, or a saved playlist
played with /playlist play.  One message, however many tracks, saying what did not fit."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.domain.control import BatchOutcome
from bot.telegram.formatting import duration, short_title


def batch_answer(
    title: str,
    outcome: BatchOutcome,
    *,
    offered: int,
    skipped: int = 0,
    limited_to: int | None = None,
) -> str:
    """``offered``: tracks handed to the queue; ``skipped``: entries left out before that;
    ``limited_to``: the listing had more entries than this many, the first were taken."""
    name = short_title(title)
    if outcome.added == 1:
        lines = [_("📃 Queued 1 track from {title}.").format(title=name)]
    else:
        lines = [
            _("📃 Queued {count} tracks from {title}.").format(count=outcome.added, title=name)
        ]
    if outcome.added < offered:
        lines.append(
            _("The queue is full: {count} more did not fit.").format(count=offered - outcome.added)
        )
    if limited_to is not None:
        lines.append(_("Only the first {limit} entries are taken.").format(limit=limited_to))
    if skipped:
        lines.append(
            _("Left out (no playable address, or too long): {count}.").format(count=skipped)
        )
    if outcome.started is not None:
        lines.append(
            _("▶️ Now playing: {title} ({duration})").format(
                title=short_title(outcome.started.title),
                duration=duration(outcome.started.duration),
            )
        )
    return "\n".join(lines)
