"""Progress reports that can never fail a /play: the callback edits a chat message, and a
failed edit (message deleted, rate limit) must not turn into a failed download."""

from __future__ import annotations

import logging

from bot.sources.base import Progress

log = logging.getLogger(__name__)


async def report(progress: Progress | None, stage: str, fraction: float | None) -> None:
    if progress is None:
        return
    try:
        await progress(stage, fraction)
    except Exception:
        log.warning("progress callback failed at %s", stage, exc_info=True)
