"""The engine the configuration asks for (``engine.kind``), as an assistant pool.

Every account of ``[[assistants]]`` (or the single ``[assistant]``) becomes an engine of its
own; the pool in front of them is what the player talks to.
"""

from __future__ import annotations

from bot.config import AssistantEntry, ConfigError, Settings
from bot.engines.base import VoiceEngine
from bot.engines.local import LocalEngine
from bot.engines.pool import Assignments, AssistantPool, Notice, PoolMember, Unban
from bot.engines.router import EngineChoice, EngineRouter
from bot.engines.rtmp import RtmpEngine, TargetLookup
from bot.engines.tgcalls import InviteLink, PyTgCallsEngine

#: virtual accounts of the local engine get made-up user ids from here on
VIRTUAL_USER_ID = 9_000_000_000


def missing_credentials(entry: AssistantEntry) -> list[str]:
    """The keys a real account still lacks (empty: it can log in)."""
    return [
        key
        for key, present in (
            ("api_id", entry.api_id > 0),
            ("api_hash", bool(entry.api_hash.get_secret_value())),
            ("session_string", bool(entry.session_string.get_secret_value())),
        )
        if not present
    ]


def entry_key(settings: Settings, entry: AssistantEntry) -> str:
    """How the config names this account's table in an error line."""
    return f"assistants[{entry.name}]" if settings.assistants else "assistant"


def build_member(
    settings: Settings, entry: AssistantEntry, index: int, *, invite_link: InviteLink
) -> PoolMember:
    if settings.engine.kind == "local":
        return LocalEngine(
            default_listeners=settings.engine.local_listeners,
            account=entry.name,
            user_id=VIRTUAL_USER_ID + index,
        )
    missing = missing_credentials(entry)
    if missing:
        raise ConfigError(
            f"config: {entry_key(settings, entry)}.{missing[0]}: required for engine.kind = "
            '"pytgcalls" (run `python -m bot session` for the session string, or use '
            'engine.kind = "local")'
        )
    return PyTgCallsEngine(
        api_id=entry.api_id,
        api_hash=entry.api_hash.get_secret_value(),
        session_string=entry.session_string.get_secret_value(),
        invite_link=invite_link,
        account=entry.name,
    )


def build_engine(
    settings: Settings,
    *,
    invite_link: InviteLink,
    assignments: Assignments,
    notice: Notice | None = None,
    unban: Unban | None = None,
) -> AssistantPool:
    """``invite_link`` gives the bot's invite link for a chat, so an assistant can join;
    ``unban`` lifts a ban on an assistant account when the bot may."""
    members = [
        (entry.name, build_member(settings, entry, i, invite_link=invite_link))
        for i, entry in enumerate(settings.assistant_pool())
    ]
    return AssistantPool(members, assignments, notice=notice, unban=unban)


def player_engine(
    settings: Settings,
    pool: AssistantPool | None,
    *,
    rtmp_targets: TargetLookup,
    engine_choice: EngineChoice,
) -> VoiceEngine:
    """What the player talks to: chats that set an RTMP target (``/rtmp``) stream through
    the RTMP engine, the others through the assistant pool.  ``engine.kind = "rtmp"`` has
    no pool (``pool`` None: no assistant account at all) and streams every chat so."""
    rtmp = RtmpEngine(targets=rtmp_targets, quality=settings.player.video_quality)
    if pool is None:
        return rtmp
    return EngineRouter(pool, {"rtmp": rtmp}, engine_choice)
