"""A bounded, expiring in-memory copy of chat settings.

Every update reads its chat's settings (the i18n middleware, the player), and a database
round trip per update was most of the bot's per-command cost.  Writes through the owning
repository drop the entry at once; the TTL bounds how long a change made behind the
repository's back (another process, a raw SQL edit) can go unseen.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bot.domain.ports import ChatSettings

DEFAULT_MAX_ENTRIES = 50_000


class SettingsCache:
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
        self._entries: OrderedDict[int, tuple[float, ChatSettings]] = OrderedDict()
        #: Bumped by every write.  A read that began before a write may carry the old
        #: value; it is not stored if the generation moved while it was in flight.
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, chat_id: int) -> ChatSettings | None:
        entry = self._entries.get(chat_id)
        if entry is None:
            return None
        expires, settings = entry
        if self._clock() >= expires:
            del self._entries[chat_id]
            return None
        self._entries.move_to_end(chat_id)
        return settings

    def put(self, settings: ChatSettings, *, read_at_generation: int) -> None:
        """``read_at_generation``: ``generation`` as it was when the read began."""
        if not self.enabled or read_at_generation != self.generation:
            return
        self._entries[settings.chat_id] = (self._clock() + self.ttl, settings)
        self._entries.move_to_end(settings.chat_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, chat_id: int) -> None:
        self.generation += 1
        self._entries.pop(chat_id, None)
