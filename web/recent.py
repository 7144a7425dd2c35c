"""What the dashboard remembers from the event bus: the last events worth reading, each
chat's latest placement (assistant, node) and its recent failures.

Kept by the monitoring hub from the events it already reads, so a dashboard opened (or
reloaded) now still shows what happened a minute ago.  Bounded: the list is a ring, the
per-chat maps drop a chat once it has been idle and quiet for ``FORGET_SECONDS``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

#: events shown in the "recent events" list (metrics and listener counts are too chatty)
LISTED = frozenset({"track_change", "stream_status", "auto_end_warning", "system_alert"})
KEEP_EVENTS = 200
#: a failure counts against a chat (sorting it first) for this long
ERROR_WINDOW_SECONDS = 15 * 60
FORGET_SECONDS = 24 * 3600
#: keys of track_change that say where a chat is served
PLACEMENT_KEYS = ("assistant", "node", "engine")


def is_problem(event: str, data: dict[str, Any]) -> bool:
    """A failure a maintainer should look at: a stream error, a chat stalled by failing
    tracks, an alert."""
    if event == "system_alert":
        return True
    if event == "stream_status":
        return data.get("state") == "error" or data.get("reason") in ("error", "failures")
    return False


class RecentEvents:
    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self.events: deque[dict[str, Any]] = deque(maxlen=KEEP_EVENTS)
        self.placement: dict[int, dict[str, Any]] = {}
        self._failures: dict[int, deque[float]] = {}

    def note(self, frame: dict[str, Any]) -> None:
        """``frame``: an event as the WebSocket sends it (``Event.as_dict()``)."""
        name, chat_id, data = frame["event"], frame.get("chat_id"), frame.get("data") or {}
        if name not in LISTED:
            return
        problem = is_problem(name, data)
        self.events.append({**frame, "problem": problem})
        if chat_id is None:
            return
        if name == "track_change":
            where = {k: data[k] for k in PLACEMENT_KEYS if data.get(k) is not None}
            self.placement[chat_id] = where
        if problem:
            self._failures.setdefault(chat_id, deque(maxlen=50)).append(frame["timestamp"])
        self._forget_old()

    def errors(self, chat_id: int) -> int:
        """Failures in this chat within the last ``ERROR_WINDOW_SECONDS``."""
        cut = self._clock() - ERROR_WINDOW_SECONDS
        return sum(1 for t in self._failures.get(chat_id, ()) if t >= cut)

    def _forget_old(self) -> None:
        cut = self._clock() - FORGET_SECONDS
        for chat_id in [c for c, times in self._failures.items() if not times or times[-1] < cut]:
            del self._failures[chat_id]
        if len(self.placement) > 10_000:  # a chat's placement is re-sent on every track
            self.placement.clear()
