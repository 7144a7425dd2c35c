"""Language choice: the chat's setting, else the user's Telegram language, else the default.

Catalogues are gettext ``.po`` files under ``locales/`` (domain ``messages``), compiled to
``.mo`` by scripts/setup.sh in a checkout and by the wheel's build (setup.py).  Code outside
a handler (the announcer) enters a locale with ``in_chat_locale`` so that every sentence
still goes through ``_``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

from bot.domain.ports import ChatSettingsSource
from bot.resources import bundled

log = logging.getLogger(__name__)

SUPPORTED_LOCALES = ("en", "ru", "uk")
DOMAIN = "messages"


def default_locales_dir() -> Path:
    """``locales/`` inside the package of an installed wheel (compiled by its build), else at
    the project root of a checkout (compiled by scripts/setup.sh)."""
    return bundled("locales")


def make_i18n(default_locale: str, path: Path | None = None) -> I18n:
    return I18n(path=path or default_locales_dir(), default_locale=default_locale, domain=DOMAIN)


def user_locale(user: User | None) -> str | None:
    if user is None or not user.language_code:
        return None
    code = user.language_code.replace("_", "-").split("-")[0].lower()
    return code if code in SUPPORTED_LOCALES else None


async def chat_locale(chat_settings: ChatSettingsSource, chat_id: int | None, default: str) -> str:
    """The chat's language for messages not caused by a user (announcements)."""
    if chat_id is None:
        return default
    try:
        language = (await chat_settings.get(chat_id)).language
    except Exception:
        # Storage trouble must not silence an announcement: fall back to the default.
        log.warning("chat settings unavailable for %s; using %s", chat_id, default)
        return default
    return language if language in SUPPORTED_LOCALES else default


@contextlib.contextmanager
def in_locale(i18n: I18n, locale: str) -> Iterator[None]:
    with i18n.context(), i18n.use_locale(locale):
        yield


class ChatLanguageMiddleware(I18nMiddleware):
    """Chooses the locale per update; registered as an outer middleware on every observer."""

    def __init__(self, i18n: I18n, chat_settings: ChatSettingsSource) -> None:
        super().__init__(i18n)
        self.chat_settings = chat_settings

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        chat = data.get("event_chat")
        if chat is not None:
            try:
                language = (await self.chat_settings.get(chat.id)).language
            except Exception:
                # Storage trouble must not silence the answer: the user's language it is.
                log.warning("chat settings unavailable for %s", chat.id)
                language = None
            if language in SUPPORTED_LOCALES:
                return str(language)
        return user_locale(data.get("event_from_user")) or self.i18n.default_locale
