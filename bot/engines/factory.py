"""The engine the configuration asks for (``engine.kind``)."""

from __future__ import annotations

from bot.config import ConfigError, Settings
from bot.engines.base import VoiceEngine
from bot.engines.local import LocalEngine
from bot.engines.router import EngineChoice, EngineRouter
from bot.engines.rtmp import RtmpEngine, TargetLookup
from bot.engines.tgcalls import InviteLink, PyTgCallsEngine


def build_engine(
    settings: Settings,
    *,
    invite_link: InviteLink,
    rtmp_targets: TargetLookup | None = None,
    engine_choice: EngineChoice | None = None,
) -> VoiceEngine:
    """``invite_link`` gives the bot's invite link for a chat, so the assistant can join.

    With ``rtmp_targets`` (the chats' RTMP URLs and keys) and ``engine_choice`` (which
    engine a chat asked for), chats that set an RTMP target stream through the RTMP engine
    and the rest through ``engine.kind``; ``engine.kind = "rtmp"`` streams every chat so."""
    rtmp = None
    if rtmp_targets is not None:
        rtmp = RtmpEngine(targets=rtmp_targets, quality=settings.player.video_quality)
    if settings.engine.kind == "rtmp":
        if rtmp is None:
            raise ConfigError('config: engine.kind = "rtmp" needs the chats\' RTMP targets')
        return rtmp
    default = _voice_engine(settings, invite_link)
    if rtmp is None or engine_choice is None:
        return default
    return EngineRouter(default, {"rtmp": rtmp}, engine_choice)


def _voice_engine(settings: Settings, invite_link: InviteLink) -> VoiceEngine:
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
