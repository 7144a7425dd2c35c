"""The engine the configuration asks for (``engine.kind``), as an assistant pool.

Every account of ``[[assistants]]`` (or the single ``[assistant]``) becomes an engine of its
own; the pool in front of them is what the player talks to.  The config's validation
guarantees the keys each account needs (a missing one is the one-line config error, before
anything starts), so building never fails on them here.
"""

from __future__ import annotations

from bot.config import Settings
from bot.config_accounts import AssistantEntry
from bot.engines.base import VoiceEngine
from bot.engines.local import LocalEngine
from bot.engines.pool import Assignments, AssistantPool, Notice, PoolMember, Unban
from bot.engines.router import EngineChoice, EngineRouter
from bot.engines.rtmp import RtmpEngine, TargetLookup
from bot.engines.tgcalls import InviteLink, PyTgCallsEngine

#: virtual accounts of the local engine get made-up user ids from here on
VIRTUAL_USER_ID = 9_000_000_000


def build_member(
    settings: Settings, entry: AssistantEntry, index: int, *, invite_link: InviteLink
) -> PoolMember:
    if settings.engine.kind == "local":
        return LocalEngine(
            default_listeners=settings.engine.local_listeners,
            account=entry.name,
            user_id=VIRTUAL_USER_ID + index,
            messages_dir=entry.messages_dir,
        )
    return PyTgCallsEngine(
        api_id=entry.api_id,
        api_hash=entry.api_hash.get_secret_value(),
        session_string=entry.session_string.get_secret_value(),
        invite_link=invite_link,
        account=entry.name,
        start_video_chat=settings.engine.start_video_chat,
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
