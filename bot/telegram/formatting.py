"""Turning times and positions into text and back (no sentences here: those are in i18n)."""

from __future__ import annotations

import re

from bot.domain.models import Track

_POSITION_RE = re.compile(r"^(?:(\d+):)?(\d{1,3}):(\d{2})$|^(\d+)$")
TITLE_LIMIT = 80


def duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; ``?`` when unknown (a live stream, a failed probe)."""
    if seconds is None or seconds < 0:
        return "?"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def parse_position(text: str) -> float | None:
    """``mm:ss``, ``h:mm:ss`` or plain seconds; None when it is none of those."""
    match = _POSITION_RE.match(text.strip())
    if match is None:
        return None
    if match.group(4) is not None:
        return float(match.group(4))
    hours = int(match.group(1) or 0)
    minutes = int(match.group(2))
    secs = int(match.group(3))
    if secs >= 60 or (hours and minutes >= 60):
        return None
    return float(hours * 3600 + minutes * 60 + secs)


#: what /speed takes: 0.5, 1,25, 1.5x, 2× (digits only: no "nan", "inf", "1e0", "-1")
_SPEED_RE = re.compile(r"^([0-9]{1,2})(?:[.,]([0-9]{1,4}))?\s*[xх×]?$", re.IGNORECASE)


def parse_speed(text: str) -> float | None:
    """A playback speed as people type it; None when it is not a plain number (range is
    checked by the caller, so an out-of-range number can be told from gibberish)."""
    match = _SPEED_RE.match(text.strip())
    if match is None:
        return None
    return float(f"{match.group(1)}.{match.group(2) or '0'}")


def speed_label(speed: float) -> str:
    """``1.5×``, ``2×``, ``0.75×``."""
    return f"{speed:g}×"


def progress_bar(position: float | None, total: float | None, width: int = 12) -> str:
    if position is None or not total or total <= 0:
        return ""
    filled = max(0, min(width, round(width * position / total)))
    return "▰" * filled + "▱" * (width - filled)


def short_title(title: str, limit: int = TITLE_LIMIT) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1] + "…"


VIDEO_MARK = "🎬"


def track_title(track: Track, limit: int = TITLE_LIMIT) -> str:
    """The title as answers, the queue and the card show it: a video track is marked
    with a film icon and its quality ("🎬 Title · 720p"), so audio and video read apart."""
    title = short_title(track.title, limit)
    if not track.is_video:
        return title
    return f"{VIDEO_MARK} {title} · {track.quality}" if track.quality else f"{VIDEO_MARK} {title}"
