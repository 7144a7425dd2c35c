"""Outages of a live source: restarted with backoff instead of ending the track.

A live stream (radio, HLS, YouTube live) has no natural end.  When its decoder stops --
ffmpeg exits 0 when an HLS playlist stops updating or a server closes the connection,
exactly as at the end of a file, and non-zero when the host is briefly gone -- that is an
outage, and taking it for the end of the track would drop a 24/7 stream at its first
hiccup.  So the player re-resolves the track (a YouTube live URL expires; a direct URL is
checked by the guard again) and plays it again after a growing pause; a restart that then
plays ``healthy_after`` seconds resets the pauses, and only after ``len(delays)`` failed
restarts in a row does the track end (or fail) as the engine reported.

Engine-independent on purpose: pytgcalls, the local engine and the RTMP engine all report
the stop as an end or a failure of the track, and all restart it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: pauses before the 1st, 2nd, ... restart in a row (seconds)
DELAYS: Final[tuple[float, ...]] = (1.0, 2.0, 4.0, 8.0, 16.0)
#: a restart that played this long counts as recovered: the next outage starts over
HEALTHY_AFTER: Final = 30.0


@dataclass
class LiveBackoff:
    """One chat's restarts of its current live track (a new track starts over)."""

    delays: tuple[float, ...] = field(default_factory=lambda: DELAYS)
    healthy_after: float = field(default_factory=lambda: HEALTHY_AFTER)
    track_id: str = ""
    attempts: int = 0
    started_at: float = 0.0

    def started(self, track_id: str, now: float) -> None:
        """``track_id`` (re)started playing at ``now``."""
        if track_id != self.track_id:
            self.track_id, self.attempts = track_id, 0
        self.started_at = now

    def next_delay(self, track_id: str, now: float) -> float | None:
        """The pause before the next restart of ``track_id``, or None: give up."""
        if track_id != self.track_id:
            self.track_id, self.attempts, self.started_at = track_id, 0, now
        elif now - self.started_at >= self.healthy_after:
            self.attempts = 0
        if self.attempts >= len(self.delays):
            return None
        delay = self.delays[self.attempts]
        self.attempts += 1
        return delay
