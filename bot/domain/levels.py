"""A chat's volume and speed as its player applies them: read from the chat's settings
once (ONE read for both: recovery reads thousands of chats), then kept, since this
process's player is the only one that changes them while it serves the chat."""

from __future__ import annotations

import logging

from bot.domain.models import Track
from bot.domain.policy import SPEED_NORMAL
from bot.domain.ports import ChatSettingsSource

log = logging.getLogger(__name__)


class Levels:
    def __init__(self, chat_id: int, settings: ChatSettingsSource, default_volume: int) -> None:
        self.chat_id = chat_id
        self._settings = settings
        self._default_volume = default_volume
        self._volume: int | None = None
        self._speed: float | None = None

    def remember_volume(self, volume: int) -> None:
        """The chat's volume as just set (the settings row is written by the adapter)."""
        self._volume = volume

    async def _read_settings(self) -> bool:
        """Volume and speed from ONE settings read (recovery reads thousands of chats);
        False when the settings cannot be read now (the defaults apply until they can)."""
        try:
            settings = await self._settings.get(self.chat_id)
        except Exception:
            log.warning("chat settings unavailable for %s; defaults used", self.chat_id)
            return False
        if self._volume is None:
            self._volume = settings.volume
        if self._speed is None:
            self._speed = settings.speed
        return True

    async def volume(self) -> int:
        if self._volume is None and not await self._read_settings():
            return self._default_volume
        assert self._volume is not None
        return self._volume

    def remember_speed(self, speed: float) -> None:
        """The chat's speed as just stored (``ChatPlayer.set_speed`` wrote it)."""
        self._speed = speed

    async def speed(self) -> float:
        """The chat's /speed setting (read once, then kept: only this player changes it)."""
        if self._speed is None and not await self._read_settings():
            return SPEED_NORMAL
        assert self._speed is not None
        return self._speed

    async def rate(self, track: Track) -> float:
        """The speed ``track`` plays at: the chat's, but a live stream always at 1x (it
        has no later part to hurry into, and slowing it would fall behind its source)."""
        return SPEED_NORMAL if track.is_live else await self.speed()
