"""Kept apart so that ``bot.config`` stays a size one can read: the Telegram accounts' sections.

``[telegram]`` and ``[assistant]`` / ``[[assistants]]`` travel together since both name an
account the bot runs as.  The ``Section`` base of every section lives here because
``bot.config`` imports this module, not the reverse.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
# Telegram's rule for setWebhook's secret_token: 1-256 of these characters
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ASSISTANT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class Section(BaseModel):
    # Unknown keys are refused: a misspelt key silently ignored is worse than an error.
    model_config = ConfigDict(extra="forbid")


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://api.telegram.org")
    return value.rstrip("/")


class TelegramConfig(Section):
    bot_token: SecretStr
    api_base: str = "https://api.telegram.org"
    owners: list[int] = Field(default_factory=list)
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    # Bot API calls (getUpdates aside) this process makes per second at most: Telegram allows
    # about 30 a second per bot, so each node of a cluster should get its share
    calls_per_second: int = Field(default=30, ge=1)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme != "https":
            raise ValueError("must be empty or an https:// URL (Telegram posts only to HTTPS)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not _WEBHOOK_SECRET_RE.match(secret):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token (digits:letters, from @BotFather)")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _check_http_url(value)


class AssistantConfig(Section):
    api_id: int = 0
    api_hash: SecretStr = SecretStr("")
    session_string: SecretStr = SecretStr("")

    def missing(self) -> list[str]:
        """The keys an account needs to join voice chats that are not set, in file order."""
        return [
            key
            for key, present in (
                ("api_id", self.api_id > 0),
                ("api_hash", bool(self.api_hash.get_secret_value())),
                ("session_string", bool(self.session_string.get_secret_value())),
            )
            if not present
        ]

    def is_set(self) -> bool:
        return bool(
            self.api_id
            or self.api_hash.get_secret_value()
            or self.session_string.get_secret_value()
        )


class AssistantEntry(AssistantConfig):
    """One account of the pool (``[[assistants]]``); the name shows in the panel and events."""

    name: str
    # engine "local": a folder standing in for what this virtual account sees in Telegram,
    # <messages_dir>/<chat>/<message id>.<ext> (files over 20 MB, t.me links)
    messages_dir: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ASSISTANT_NAME_RE.match(value):
            raise ValueError("must be 1-32 characters of A-Z, a-z, 0-9, _ and -")
        return value


#: the name the single ``[assistant]`` table gets as a pool of one
DEFAULT_ASSISTANT_NAME = "main"
