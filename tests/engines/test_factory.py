"""The engine named by the configuration (an assistant pool of one or more accounts); an
account's missing credentials are a config error (test_config)."""

from __future__ import annotations

from typing import Any

from bot.config import settings_from_mapping
from bot.engines.factory import build_engine
from bot.engines.local import LocalEngine
from bot.engines.pool import AssistantPool
from bot.engines.tgcalls import PyTgCallsEngine
from bot.storage.assignments import AssignmentRepo
from bot.storage.database import create_engine, session_factory

# built, never called: building an engine touches no database
ASSIGNMENTS = AssignmentRepo(session_factory(create_engine("sqlite+aiosqlite://")))


def build(settings: Any) -> AssistantPool:
    return build_engine(settings, invite_link=no_link, assignments=ASSIGNMENTS)


async def no_link(chat_id: int) -> str:
    raise AssertionError("not called while building")


def settings(**sections: Any) -> Any:
    return settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
            "web": {"enabled": False},
            **sections,
        }
    )


async def test_local_engine_with_configured_listeners() -> None:
    pool = build(settings(engine={"kind": "local", "local_listeners": 4}))
    assert pool.name == "local"
    [(name, engine)] = pool.members().items()
    assert name == "main"
    assert isinstance(engine, LocalEngine)
    assert engine._default_listeners == 4


def test_local_assistants_are_virtual_accounts() -> None:
    pool = build(settings(engine={"kind": "local"}, assistants=[{"name": "x"}, {"name": "y"}]))
    members = pool.members()
    assert list(members) == ["x", "y"]
    assert all(isinstance(e, LocalEngine) for e in members.values())
    assert len({e.user_id for e in members.values() if isinstance(e, LocalEngine)}) == 2


def test_pytgcalls_engine_built_without_connecting() -> None:
    full = settings(assistant={"api_id": 5, "api_hash": "abc", "session_string": "sess"})
    pool = build(full)
    [engine] = pool.members().values()
    assert isinstance(engine, PyTgCallsEngine)
    assert pool.name == "pytgcalls"
    assert pool.active_chats() == []
