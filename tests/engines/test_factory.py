"""The engine named by the configuration, and a clear line when the assistant is missing."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError, settings_from_mapping
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


def test_pytgcalls_needs_the_assistant() -> None:
    with pytest.raises(ConfigError, match=r"assistant\.api_id: required"):
        build_engine(settings(), invite_link=no_link)
    partial = settings(assistant={"api_id": 5, "api_hash": "abc"})
    with pytest.raises(ConfigError, match=r"assistant\.session_string: required"):
        build_engine(partial, invite_link=no_link)


def test_pytgcalls_engine_built_without_connecting() -> None:
    full = settings(assistant={"api_id": 5, "api_hash": "abc", "session_string": "sess"})
    engine = build_engine(full, invite_link=no_link)
    assert isinstance(engine, PyTgCallsEngine)
    assert engine.name == "pytgcalls"
    assert engine.active_chats() == []
