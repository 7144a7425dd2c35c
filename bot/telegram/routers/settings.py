"""/settings: an inline keyboard of the chat's settings (administrators and owners)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InaccessibleMessage, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.ports import ChatSettings
from bot.telegram.callbacks import CALLBACK_VERSION, SettingChange
from bot.telegram.i18n import SUPPORTED_LOCALES
from bot.telegram.keyboards import (
    AUTO_END_CHOICES,
    VIDEO_QUALITY_CHOICES,
    auto_end_minutes,
    settings_keyboard,
)
from bot.telegram.rights import Need, needs
from bot.telegram.services import BotServices
from bot.telegram.targets import Target


def settings_title(target: Target) -> str:
    if target.linked:
        return _("Settings of the linked channel; the language is this group's (press to change):")
    return _("Settings for this chat (press to change):")


async def shown_settings(services: BotServices, target: Target) -> ChatSettings:
    """The settings the keyboard shows: the stream's (the linked channel's), with the
    language of the chat the keyboard is in (a group reads its own language)."""
    current = await services.chat_settings.get(target.chat_id)
    if not target.linked:
        return current
    here = await services.chat_settings.get(target.origin_id)
    return replace(current, language=here.language)


def setting_chat(target: Target, name: str) -> int:
    """Whose setting a button changes: the language belongs to the chat where people read,
    everything else to the stream's chat."""
    return target.origin_id if name == "language" else target.chat_id


def parse_change(key: str, value: str) -> tuple[str, Any] | None:
    """(setting, new value) a button sets; None for data no button of ours sends."""
    flags = {"admin": "admin_only", "always": "always_on", "pvideo": "playlist_video"}
    if key in flags and value in ("0", "1"):
        return (flags[key], value == "1")
    if key == "autoend":
        if value == "default":
            return ("auto_end_minutes", None)
        if value.isdecimal() and int(value) in AUTO_END_CHOICES:
            return ("auto_end_minutes", int(value))
        return None
    if key == "vq" and value in VIDEO_QUALITY_CHOICES:
        return ("video_quality", None if value == "default" else value)
    if key == "lang" and (value in SUPPORTED_LOCALES or value == "auto"):
        return ("language", None if value == "auto" else value)
    return None


def _current(settings: ChatSettings, name: str) -> Any:
    if name == "auto_end_minutes":
        return auto_end_minutes(settings)
    return getattr(settings, name)


async def apply_change(
    services: BotServices, chat_id: int, user_id: int, name: str, value: Any
) -> None:
    """Writes one setting and records who changed it from what to what."""
    repo = services.chat_settings
    before = await repo.get(chat_id)
    setters: dict[str, Callable[[int, Any], Awaitable[None]]] = {
        "admin_only": repo.set_admin_only,
        "always_on": repo.set_always_on,
        "playlist_video": repo.set_playlist_video,
        "language": repo.set_language,
        "auto_end_minutes": repo.set_auto_end_minutes,
        "video_quality": repo.set_video_quality,
    }
    await setters[name](chat_id, value)
    await services.audit.record(
        f"tg:{user_id}",
        "chat.settings",
        "chat",
        str(chat_id),
        before={name: _current(before, name)},
        after={name: value},
    )


async def show_settings(message: Message, services: BotServices, target: Target) -> None:
    current = await shown_settings(services, target)
    await message.answer(settings_title(target), reply_markup=settings_keyboard(current))


async def change_setting(
    query: CallbackQuery,
    callback_data: SettingChange,
    services: BotServices,
    i18n: I18n,
    target: Target,
) -> None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        await query.answer(_("This button has expired."))
        return
    change = parse_change(callback_data.key, callback_data.value)
    if change is None:
        await query.answer(_("This button has expired."))
        return
    name, value = change
    await apply_change(services, setting_chat(target, name), query.from_user.id, name, value)
    current = await shown_settings(services, target)
    # A language change shows at once: the keyboard is redrawn in the new language.
    locale = current.language or i18n.current_locale
    with i18n.use_locale(locale if locale in SUPPORTED_LOCALES else i18n.default_locale):
        await message.edit_text(settings_title(target), reply_markup=settings_keyboard(current))
        await query.answer(_("Saved."))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="settings")
    configure = needs(Need.CONFIGURE)
    router.message.register(show_settings, Command("settings"), flags=configure)
    router.callback_query.register(
        change_setting, SettingChange.filter(F.v == CALLBACK_VERSION), flags=configure
    )
    return router
