"""Refusals of the player, each with a stable code the bot maps to a localised sentence."""

from __future__ import annotations

from enum import StrEnum


class PlayerErrorCode(StrEnum):
    NOTHING_PLAYING = "nothing_playing"  # skip, seek... with no track in the slot
    BAD_POSITION = "bad_position"  # seek outside 0 <= position < duration
    NOT_SEEKABLE = "not_seekable"  # seek on a live stream
    BAD_VOLUME = "bad_volume"  # volume outside 1..200
    VIDEO_LIMIT = "video_limit"  # player.max_video_streams video streams run already


class PlayerError(Exception):
    """Bad input or a request that makes no sense now; nothing was changed."""

    def __init__(self, code: PlayerErrorCode, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.detail = detail
