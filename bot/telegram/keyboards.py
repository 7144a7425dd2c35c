"""Inline keyboards: now-playing controls, queue pages, settings."""

from __future__ import annotations

from typing import TypeVar

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.domain.models import LoopMode
from bot.domain.ports import ChatSettings
from bot.domain.video import QUALITIES
from bot.telegram.callbacks import (
    CALLBACK_VERSION,
    Control,
    QueuePage,
    SettingChange,
    track_tag,
)

#: auto-end choices in minutes, cycled by the settings button (None: the configured default)
AUTO_END_CHOICES: tuple[int | None, ...] = (None, 0, 5, 15, 30, 60)
LANGUAGE_CHOICES: tuple[str, ...] = ("auto", "en", "ru", "uk")
#: /vplay's quality, cycled by its button ("default": the configured player.video_quality)
VIDEO_QUALITY_CHOICES: tuple[str, ...] = ("default", *QUALITIES)
_T = TypeVar("_T")


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def loop_label(mode: LoopMode) -> str:
    if mode is LoopMode.TRACK:
        return _("🔂 Loop: track")
    if mode is LoopMode.QUEUE:
        return _("🔁 Loop: queue")
    return _("➡️ Loop: off")


def controls(track_id: str, *, paused: bool, loop: LoopMode) -> InlineKeyboardMarkup:
    tag = track_tag(track_id)

    def data(action: str) -> str:
        return Control(v=CALLBACK_VERSION, action=action, track=tag).pack()

    toggle = (
        _button(_("▶️ Resume"), data("resume")) if paused else _button(_("⏸ Pause"), data("pause"))
    )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [toggle, _button(_("⏭ Skip"), data("skip")), _button(_("⏹ Stop"), data("stop"))],
            [_button(loop_label(loop), data("loop")), _button(_("📜 Queue"), data("queue"))],
        ]
    )


def queue_pages(page: int, pages: int) -> InlineKeyboardMarkup | None:
    if pages <= 1:
        return None
    row = []
    if page > 1:
        row.append(_button("◀️", QueuePage(v=CALLBACK_VERSION, page=page - 1).pack()))
    row.append(_button(f"{page}/{pages}", QueuePage(v=CALLBACK_VERSION, page=page).pack()))
    if page < pages:
        row.append(_button("▶️", QueuePage(v=CALLBACK_VERSION, page=page + 1).pack()))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def next_choice(choices: tuple[_T, ...], current: _T) -> _T:
    index = choices.index(current) if current in choices else -1
    return choices[(index + 1) % len(choices)]


def _on_off(value: bool) -> str:
    return _("on") if value else _("off")


def auto_end_minutes(settings: ChatSettings) -> int | None:
    if settings.auto_end_seconds is None:
        return None
    return settings.auto_end_seconds // 60


def auto_end_label(minutes: int | None) -> str:
    if minutes is None:
        return _("default")
    if minutes == 0:
        return _("never")
    return _("{minutes} min").format(minutes=minutes)


def settings_keyboard(settings: ChatSettings) -> InlineKeyboardMarkup:
    def data(key: str, value: str) -> str:
        return SettingChange(v=CALLBACK_VERSION, key=key, value=value).pack()

    minutes = auto_end_minutes(settings)
    next_minutes = next_choice(AUTO_END_CHOICES, minutes)
    language = settings.language or "auto"
    quality = settings.video_quality or "default"
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    _("Admin-only mode: {state}").format(state=_on_off(settings.admin_only)),
                    data("admin", "0" if settings.admin_only else "1"),
                )
            ],
            [
                _button(
                    _("Auto-end: {value}").format(value=auto_end_label(minutes)),
                    data("autoend", "default" if next_minutes is None else str(next_minutes)),
                )
            ],
            [
                _button(
                    _("24/7 playlist: {state}").format(state=_on_off(settings.always_on)),
                    data("always", "0" if settings.always_on else "1"),
                )
            ],
            [
                _button(
                    _("24/7 plays: 🎬 picture and sound")
                    if settings.playlist_video
                    else _("24/7 plays: 🎵 sound only"),
                    data("pvideo", "0" if settings.playlist_video else "1"),
                )
            ],
            [
                _button(
                    _("Video quality: {quality}").format(
                        quality=quality if quality != "default" else _("default")
                    ),
                    data("vq", next_choice(VIDEO_QUALITY_CHOICES, quality)),
                )
            ],
            [
                _button(
                    _("Language: {language}").format(language=language),
                    data("lang", next_choice(LANGUAGE_CHOICES, language)),
                )
            ],
        ]
    )
