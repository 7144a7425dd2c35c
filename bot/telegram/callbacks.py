"""Compact, versioned callback data for inline buttons.

Every button carries ``v`` (the layout version): a button from an older layout, or one
that names a track no longer playing, answers "expired" instead of acting.  Buttons only
say what was pressed; the handler re-checks rights and state on the server.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

#: bump when a button's meaning or layout changes; old buttons then answer "expired"
CALLBACK_VERSION = 1
TRACK_TAG_LENGTH = 8


def track_tag(track_id: str) -> str:
    """The part of a track id a button carries (callback data is limited to 64 bytes)."""
    return track_id[:TRACK_TAG_LENGTH]


class Control(CallbackData, prefix="c"):
    """A now-playing control: pause, resume, skip, stop, loop, queue."""

    v: int
    action: str
    track: str


class QueuePage(CallbackData, prefix="q"):
    v: int
    page: int


class SettingChange(CallbackData, prefix="s"):
    """``key`` is one of admin, autoend, always, lang; ``value`` the new value."""

    v: int
    key: str
    value: str
