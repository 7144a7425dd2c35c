"""The engine the configuration asks for (``engine.kind``).

The config's own validation guarantees the account keys an engine needs (a missing one is
the one-line config error, before anything starts), so building never fails on them here.
"""

from __future__ import annotations

from bot.config import Settings
from bot.engines.base import VoiceEngine
from bot.engines.local import LocalEngine
from bot.engines.tgcalls import InviteLink, PyTgCallsEngine


def build_engine(settings: Settings, *, invite_link: InviteLink) -> VoiceEngine:
    """``invite_link`` gives the bot's invite link for a chat, so the assistant can join."""
    if settings.engine.kind == "local":
        return LocalEngine(default_listeners=settings.engine.local_listeners)
    assistant = settings.assistant
    return PyTgCallsEngine(
        api_id=assistant.api_id,
        api_hash=assistant.api_hash.get_secret_value(),
        session_string=assistant.session_string.get_secret_value(),
        invite_link=invite_link,
    )
