"""Restarts of a live source whose ffmpeg stopped.

A live stream (radio, HLS, YouTube live) has no natural end: when its ffmpeg exits, even
with status 0 (an HLS playlist that stopped updating, a server that closed the
connection), that is an outage, not the end of the track.  The engines start it again
after a growing pause; a restart that then plays for ``healthy_after`` seconds resets the
pauses, and only after ``len(delays)`` failed restarts in a row does the track end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot import metrics

#: pauses before the 1st, 2nd, ... restart in a row (seconds)
DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
#: a restart that played this long counts as recovered: the next outage starts over
HEALTHY_AFTER = 30.0


@dataclass
class LiveBackoff:
    delays: tuple[float, ...] = field(default_factory=lambda: DELAYS)
    healthy_after: float = field(default_factory=lambda: HEALTHY_AFTER)
    clock: Callable[[], float] = time.monotonic
    attempts: int = 0
    started_at: float = 0.0

    def started(self) -> None:
        """The source (re)started playing now."""
        self.started_at = self.clock()

    def next_delay(self) -> float | None:
        """The pause before the next restart, or None: give up, the stream ended."""
        if self.clock() - self.started_at >= self.healthy_after:
            self.attempts = 0
        if self.attempts >= len(self.delays):
            return None
        delay = self.delays[self.attempts]
        self.attempts += 1
        metrics.LIVE_RESTARTS.inc()
        return delay
