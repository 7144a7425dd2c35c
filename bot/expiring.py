"""A bounded in-memory map whose entries expire: the one way the bot keeps a copy of
something another process may change (chat settings, which account a chat is on).

The TTL bounds how long a change made elsewhere goes unseen; the bound on entries keeps a
bot in very many chats from growing without limit (the least recently read go first).
``generation`` guards against a read that raced a write: a value read before a ``forget``
is not stored after it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_ENTRIES = 50_000


class ExpiringCache(Generic[K, V]):
    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        #: Bumped by every ``forget``.  A read that began before one may carry the old
        #: value; it is not stored if the generation moved while it was in flight.
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def store(self, key: K, value: V, *, read_at_generation: int) -> None:
        """``read_at_generation``: ``generation`` as it was when the read began."""
        if not self.enabled or read_at_generation != self.generation:
            return
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)
