"""A bounded, expiring in-memory copy of chat settings.

Every update reads its chat's settings (the i18n middleware, the player), and a database
round trip per update was most of the bot's per-command cost.  Writes through the owning
repository drop the entry at once; the TTL bounds how long a change made behind the
repository's back (another process, a raw SQL edit) can go unseen.
"""

from __future__ import annotations

from bot.domain.ports import ChatSettings
from bot.expiring import DEFAULT_MAX_ENTRIES, ExpiringCache

__all__ = ["DEFAULT_MAX_ENTRIES", "SettingsCache"]


class SettingsCache(ExpiringCache[int, ChatSettings]):
    def put(self, settings: ChatSettings, *, read_at_generation: int) -> None:
        """``read_at_generation``: ``generation`` as it was when the read began."""
        self.store(settings.chat_id, settings, read_at_generation=read_at_generation)
