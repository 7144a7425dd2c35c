"""A per-user sliding window for /play: one member sending /play in a loop is told to slow
down before anything is fetched, instead of filling the queue and the fetch slots."""

from __future__ import annotations

import time
from collections import OrderedDict

from bot.telegram.throttle import Clock, RateLimiter

WINDOW_SECONDS = 60.0
#: users remembered at most; the least recently seen is forgotten first
MAX_USERS = 10_000


class UserRate:
    def __init__(self, per_minute: int, clock: Clock = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._users: OrderedDict[int, RateLimiter] = OrderedDict()

    def take(self, user_id: int) -> float:
        """0 and one request counted, or the seconds until the user may ask again."""
        limiter = self._users.get(user_id)
        if limiter is None:
            limiter = self._users[user_id] = RateLimiter(
                self.per_minute, WINDOW_SECONDS, self._clock
            )
        self._users.move_to_end(user_id)
        while len(self._users) > MAX_USERS:
            self._users.popitem(last=False)
        return limiter.take()
