"""One chat's live outages (``bot.domain.live``): the restart scheduled after the backoff's
pause, the track re-resolved and played again under the chat's lock, or given up so that
the stop counts as the engine reported it.

Apart from ``ChatPlayer`` because it is the one transition that runs later, on a task of
its own, and must check again under the lock that the track it restarts still plays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.domain.errors import SattvaError
from bot.domain.playback import Playback, PlayerDeps
from bot.engines.base import EngineError, MediaError

log = logging.getLogger(__name__)


class LiveRestarts:
    """``give_up(track_id, message)``: the player's handling of a failed track, for an
    outage whose restarts are used up."""

    def __init__(
        self,
        chat_id: int,
        playback: Playback,
        deps: PlayerDeps,
        give_up: Callable[[str, str], Awaitable[bool]],
    ) -> None:
        self.chat_id = chat_id
        self._p = playback
        self._d = deps
        self._give_up = give_up

    def outage(self, track_id: str, message: str | None) -> bool:
        """The live track the engine plays stopped: schedules its restart after the
        backoff's pause and says True, or False when it is not a live outage or the
        restarts are used up (the stop then counts as the engine reported it).
        ``message``: the failure the engine reported (None: it ended)."""
        p, d = self._p, self._d
        current = p.current
        if (
            p.engine_track != track_id
            or current is None
            or current.track.id != track_id
            or not current.track.is_live
            or current.paused
        ):
            return False
        delay = p.live.next_delay(track_id, d.clock.time())
        if delay is None:
            log.warning("chat %s: live source %s did not come back", self.chat_id, track_id)
            return False
        log.info("chat %s: live source stopped; restart in %.0f s", self.chat_id, delay)
        d.stats.live_restarted()
        p.status("reconnecting", reason="live_outage", error=message, track_id=track_id)
        self.cancel()
        p.live_restart = asyncio.create_task(
            self._restart(delay, track_id, message), name=f"live-restart-{self.chat_id}"
        )
        return True

    def cancel(self) -> None:
        task, self._p.live_restart = self._p.live_restart, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _restart(self, delay: float, track_id: str, message: str | None) -> None:
        d = self._d
        await d.clock.sleep(delay)
        async with self._p.lock:
            current = self._p.current
            if (
                self._p.engine_track != track_id
                or current is None
                or current.track.id != track_id
                or current.paused
            ):
                return  # skipped, stopped or paused meanwhile: nothing to restart
            try:
                fresh = await d.refresher.refresh(current.track)
                await self._p.restart(replace(current, track=fresh))
            except MediaError as exc:
                await self._still_out(track_id, str(exc))
            except EngineError as exc:  # the call itself: stalled like any failed start
                log.warning("chat %s: live restart failed: %s", self.chat_id, exc)
            except SattvaError as exc:  # the source is not back yet
                await self._still_out(track_id, str(exc))
            except Exception:
                log.exception("chat %s: live restart failed", self.chat_id)

    async def _still_out(self, track_id: str, message: str) -> None:
        """A restart found the source still gone: wait longer, or give the track up."""
        if not self.outage(track_id, message):
            await self._give_up(track_id, message)
