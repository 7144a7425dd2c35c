"""What the bot's handlers need from the rest of Sattva, handed over as one object.

The dispatcher gets a ``BotServices`` through its workflow data, so every handler asks for
``services`` and nothing is a module-level global; tests build one from real parts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.config import Settings
from bot.domain.control import Players
from bot.domain.events import EventBus
from bot.domain.ports import ChatSettings, ChatSettingsSource
from bot.sources.base import Resolver
from bot.telegram.sender import Sender


class ChatSettingsStore(ChatSettingsSource, Protocol):
    """Per-chat settings, read and written by /settings and /lang."""

    async def update(self, chat_id: int, **changes: Any) -> ChatSettings:
        """Changes the given ``ChatSettings`` fields (creating the row when missing)."""

    async def chat_ids(self) -> list[int]:
        """Every chat the bot has acted in (for /broadcast)."""


class AuthorizedEntry(Protocol):
    user_id: int
    name: str


class AuthStore(Protocol):
    async def is_authorized(self, chat_id: int, user_id: int) -> bool: ...

    async def authorize(
        self, chat_id: int, user_id: int, *, name: str = "", added_by: int | None = None
    ) -> bool:
        """False when the user was already authorised."""

    async def unauthorize(self, chat_id: int, user_id: int) -> bool:
        """False when the user was not authorised."""

    async def list(self, chat_id: int) -> Sequence[AuthorizedEntry]: ...


class AuditSink(Protocol):
    async def record(
        self,
        actor: str,
        action: str,
        entity: str,
        entity_id: str = "",
        *,
        before: Any = None,
        after: Any = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class RuntimeStats:
    """What /stats shows (owners only)."""

    active_chats: int
    streams: int
    queued: dict[int, int]
    uptime_seconds: float
    cpu_percent: float
    memory_mb: float


StatsProvider = Callable[[], Awaitable[RuntimeStats]]


@dataclass
class BotServices:
    settings: Settings
    players: Players
    resolver: Resolver
    chat_settings: ChatSettingsStore
    auth: AuthStore
    audit: AuditSink
    bus: EventBus
    started_at: float
    stats: StatsProvider
    sender: Sender = field(default_factory=Sender)

    @property
    def owners(self) -> frozenset[int]:
        return frozenset(self.settings.telegram.owners)
