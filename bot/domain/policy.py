"""The player's tunables as the domain sees them, and the limits the domain itself sets.

``bot.config`` validates the operator's file and hands the player section over as a
``PlayerPolicy`` (``PlayerConfig.policy()``), so the domain never imports the config model
and a test or benchmark can build a policy without a whole ``Settings``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: the volume range every adapter accepts (chat command, admin panel, engine, storage)
VOLUME_MIN = 1
VOLUME_MAX = 200
#: the playback speed range (/speed): what one ffmpeg ``atempo`` covers, and past which
#: speech stops being intelligible
SPEED_MIN = 0.5
SPEED_MAX = 2.0
SPEED_NORMAL = 1.0


def valid_speed(speed: float) -> bool:
    """Within SPEED_MIN..SPEED_MAX (False for nan and the infinities too)."""
    return math.isfinite(speed) and SPEED_MIN <= speed <= SPEED_MAX


@dataclass(frozen=True, slots=True)
class PlayerPolicy:
    """Mirrors ``bot.config.PlayerConfig``; the defaults are the config file's defaults."""

    max_track_seconds: int = 3 * 3600
    queue_limit: int = 100
    auto_end_seconds: int = 300
    auto_end_warning_seconds: int = 60
    participants_check_seconds: int = 30
    resume_after_restart: bool = True
    resume_rewind_seconds: int = 3
    default_volume: int = 100
    checkpoint_seconds: int = 5
    video_quality: str = "720p"  # a name from bot.domain.video.QUALITIES
    max_video_streams: int = 20
