"""The engine named by the configuration (a missing assistant is a config error: test_config)."""

from __future__ import annotations

from typing import Any

from bot.config import settings_from_mapping
from bot.engines.factory import build_engine
from bot.engines.local import LocalEngine
from bot.engines.tgcalls import PyTgCallsEngine


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
    engine = build_engine(
        settings(engine={"kind": "local", "local_listeners": 4}), invite_link=no_link
    )
    assert isinstance(engine, LocalEngine)
    assert engine.name == "local"
    assert engine._default_listeners == 4


def test_pytgcalls_engine_built_without_connecting() -> None:
    full = settings(assistant={"api_id": 5, "api_hash": "abc", "session_string": "sess"})
    engine = build_engine(full, invite_link=no_link)
    assert isinstance(engine, PyTgCallsEngine)
    assert engine.name == "pytgcalls"
    assert engine.active_chats() == []
