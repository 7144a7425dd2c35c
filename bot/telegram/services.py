"""What the bot's handlers need from the rest of Sattva, handed over as one object.

The dispatcher gets a ``BotServices`` through its workflow data, so every handler asks for
``services`` and nothing is a module-level global; tests build one from real parts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.domain.control import Players
from bot.domain.events import EventBus
from bot.domain.ports import ChatSettingsSource, RtmpTarget
from bot.sources.base import Resolver
from bot.storage.channels import ChannelRepo
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.playlists import PlaylistSummary, SavedPlaylistRepo, SavedTrack, Stored
from bot.storage.repos import AuditRepo, AuthRepo
from bot.telegram.rate import UserRate
from bot.telegram.sender import Sender
from bot.telegram.stats import StatsProvider, stats_provider


class KnownChat(Protocol):
    id: int


class ChatSettingsStore(ChatSettingsSource, Protocol):
    """Per-chat settings (``bot.storage.chat_settings.ChatSettingsRepo``), read and written here."""

    async def ensure_chat(self, chat_id: int, title: str, username: str | None = None) -> None:
        """``username``: the chat's public @username, without the @ (None: private)."""

    async def list_chats(self) -> Sequence[KnownChat]: ...

    async def move_chat(self, old: int, new: int) -> bool: ...

    async def set_language(self, chat_id: int, language: str | None) -> None: ...

    async def set_admin_only(self, chat_id: int, admin_only: bool) -> None: ...

    async def set_auto_end_minutes(self, chat_id: int, minutes: int | None) -> None: ...

    async def set_always_on(self, chat_id: int, always_on: bool) -> None: ...

    async def set_playlist_video(self, chat_id: int, video: bool) -> None: ...

    async def set_video_quality(self, chat_id: int, quality: str | None) -> None: ...

    async def set_rtmp(self, chat_id: int, url: str, key: str) -> None: ...

    async def clear_rtmp(self, chat_id: int) -> None: ...

    async def rtmp_target(self, chat_id: int) -> RtmpTarget | None: ...


class LinkedChannel(Protocol):
    @property
    def previous_group(self) -> int | None: ...

    @property
    def previous_channel(self) -> int | None: ...


class ChannelStore(Protocol):
    """Channels and the group driving each (``bot.storage.channels.ChannelRepo``)."""

    def forget(self) -> None:
        """Drops what it read of the links (another writer changed them)."""

    async def channel_of(self, group_id: int) -> int | None: ...

    async def group_of(self, channel_id: int) -> int | None: ...

    async def is_channel(self, chat_id: int) -> bool: ...

    async def remember(self, channel_id: int, title: str) -> None: ...

    async def link(
        self,
        *,
        group_id: int,
        group_title: str,
        channel_id: int,
        channel_title: str,
        linked_by: int,
    ) -> LinkedChannel: ...

    async def unlink_group(self, group_id: int) -> int | None: ...

    async def unlink_channel(self, channel_id: int) -> int | None: ...


class AuthorizedEntry(Protocol):
    user_id: int
    name: str


class AuthStore(Protocol):
    """Users allowed to control playback per chat (``bot.storage.repos.AuthRepo``)."""

    async def is_authorized(self, chat_id: int, user_id: int) -> bool: ...

    async def add(
        self, chat_id: int, user_id: int, *, name: str = "", added_by: int | None = None
    ) -> bool:
        """False when the user was already authorised."""

    async def remove(self, chat_id: int, user_id: int) -> bool:
        """False when the user was not authorised."""

    async def list_users(self, chat_id: int) -> Sequence[AuthorizedEntry]: ...


class AuditSink(Protocol):
    """Who changed what (``bot.storage.repos.AuditRepo``)."""

    async def record(
        self,
        actor: str,
        action: str,
        entity: str,
        entity_id: str | int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None: ...


class SavedPlaylists(Protocol):
    """Each user's saved playlists (``bot.storage.playlists.SavedPlaylistRepo``)."""

    async def summaries(self, user_id: int) -> list[PlaylistSummary]: ...

    async def tracks(self, user_id: int, name: str) -> tuple[str, list[SavedTrack]]: ...

    async def save(
        self,
        user_id: int,
        name: str,
        tracks: Sequence[SavedTrack],
        *,
        max_playlists: int,
        max_tracks: int,
    ) -> Stored: ...

    async def append(
        self,
        user_id: int,
        name: str,
        tracks: Sequence[SavedTrack],
        *,
        max_playlists: int,
        max_tracks: int,
    ) -> Stored: ...

    async def delete(self, user_id: int, name: str) -> str: ...

    async def remove_track(self, user_id: int, name: str, position: int) -> SavedTrack: ...


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
    playlists: SavedPlaylists
    channels: ChannelStore
    sender: Sender = field(default_factory=Sender)
    play_rate: UserRate = field(init=False)

    def __post_init__(self) -> None:
        self.play_rate = UserRate(self.settings.bot.plays_per_user_per_minute)

    @property
    def owners(self) -> frozenset[int]:
        return frozenset(self.settings.telegram.owners)

    async def video_quality(self, chat_id: int) -> str:
        """The box a chat's video is fitted into: its /settings choice, else the
        configured ``player.video_quality``."""
        settings = await self.chat_settings.get(chat_id)
        return settings.quality(self.settings.player.video_quality)


def build_services(
    settings: Settings,
    *,
    players: Players,
    resolver: Resolver,
    sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    sender: Sender,
    started_at: float | None = None,
    chat_settings: ChatSettingsRepo | None = None,
    channels: ChannelRepo | None = None,
) -> BotServices:
    """The services on the storage repositories (what ``python -m bot`` wires).

    ``chat_settings``: the process's one settings repository (its cache is shared with the
    player); a new uncached one when not given."""
    started = time.time() if started_at is None else started_at
    return BotServices(
        settings=settings,
        players=players,
        resolver=resolver,
        chat_settings=ChatSettingsRepo(sessions) if chat_settings is None else chat_settings,
        auth=AuthRepo(sessions),
        audit=AuditRepo(sessions),
        bus=bus,
        started_at=started,
        stats=stats_provider(players, started),
        playlists=SavedPlaylistRepo(sessions),
        channels=ChannelRepo(sessions) if channels is None else channels,
        sender=sender,
    )
