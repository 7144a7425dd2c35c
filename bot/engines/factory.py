"""The engine the configuration asks for (``engine.kind``)."""

from __future__ import annotations

from bot.config import ConfigError, Settings
from bot.engines.base import VoiceEngine
from bot.engines.local import LocalEngine
from bot.engines.tgcalls import InviteLink, PyTgCallsEngine


def build_engine(settings: Settings, *, invite_link: InviteLink) -> VoiceEngine:
    """``invite_link`` gives the bot's invite link for a chat, so the assistant can join."""
    if settings.engine.kind == "local":
        return LocalEngine(default_listeners=settings.engine.local_listeners)
    assistant = settings.assistant
    missing = [
        key
        for key, present in (
            ("api_id", assistant.api_id > 0),
            ("api_hash", bool(assistant.api_hash.get_secret_value())),
            ("session_string", bool(assistant.session_string.get_secret_value())),
        )
        if not present
    ]
    if missing:
        raise ConfigError(
            f'config: assistant.{missing[0]}: required for engine.kind = "pytgcalls" '
            '(run `python -m bot session` for the session string, or use engine.kind = "local")'
        )
    return PyTgCallsEngine(
        api_id=assistant.api_id,
        api_hash=assistant.api_hash.get_secret_value(),
        session_string=assistant.session_string.get_secret_value(),
        invite_link=invite_link,
        start_video_chat=settings.engine.start_video_chat,
    )
