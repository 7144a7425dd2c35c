"""``python -m bot check``: one line per part, and exit 0 only when every part holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from bot.checks import run_checks
from bot.config import Settings, settings_from_mapping
from bot.storage.database import create_engine, migrate
from tests.support.fake_botapi import FakeBotAPI
from tests.support.procs import RedisServer, free_port


def make_settings(api_base: str, tmp_path: Path, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "telegram": {"bot_token": FakeBotAPI().token, "api_base": api_base},
        "engine": {"kind": "local"},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"},
        "web": {"enabled": False},
    }
    for name, values in sections.items():
        if isinstance(values, list):  # an array of tables ([[assistants]])
            data[name] = values
        else:
            data.setdefault(name, {}).update(values)
    return settings_from_mapping(data)


async def check(settings: Settings) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = await run_checks(settings, out=lines.append)
    return ok, lines


async def test_all_hold_after_migrations(tmp_path: Path, redis_url: str) -> None:
    async with FakeBotAPI() as api:
        settings = make_settings(api.url, tmp_path, storage={"redis_url": redis_url})
        ok, lines = await check(settings)
        assert not ok
        assert lines[2].startswith(
            "FAIL database: 11 migration(s) pending "
            "(0001, 0002, 0003, 0004, 0005, 0006, 0007, 0008, 0009, 0010, 0011)"
        )
        engine = create_engine(settings.storage.database_url)
        await migrate(engine)
        await engine.dispose()
        ok, lines = await check(settings)
    assert ok, lines
    names = [line.split(":")[0] for line in lines]
    assert names == [
        "ok   config",
        "ok   ffmpeg",
        "ok   database",
        "ok   redis",
        "ok   telegram",
        "ok   updates",
        "ok   assistant",
        "ok   yt-dlp cookies",
    ]
    assert lines[-1] == "ok   yt-dlp cookies: not configured: yt-dlp asks YouTube without cookies"
    assert lines[4] == "ok   telegram: @sattva_test_bot (id 123456)"
    assert lines[5] == "ok   updates: polling"
    assert lines[6] == "ok   assistant: not needed: engine.kind is local"


async def test_each_failure_is_named(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(
        dead,
        tmp_path,
        storage={"redis_url": f"redis://127.0.0.1:{free_port()}/0"},
    )
    ok, lines = await check(settings)
    assert not ok
    assert f"FAIL telegram: cannot reach {dead}" in lines
    assert "FAIL redis: unreachable: ConnectionError" in lines


async def test_wrong_token_and_redis_without_aof(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        client = redis.Redis(port=server.port)
        client.config_set("appendonly", "no")
        client.close()
        async with FakeBotAPI(token="999:wrong-token-for-the-fake-api-xx") as api:
            settings = make_settings(api.url, tmp_path, storage={"redis_url": server.url})
            ok, lines = await check(settings)
    finally:
        server.stop()
    assert not ok
    assert "FAIL telegram: the bot token was rejected (getMe: 401)" in lines
    assert (
        "FAIL redis: reachable, but appendonly is off: queues would not survive a restart" in lines
    )


async def test_each_assistant_of_the_pool_has_its_line(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(
        dead,
        tmp_path,
        engine={"kind": "pytgcalls"},
        assistants=[
            {"name": "a1", "api_id": 5, "api_hash": "h", "session_string": "AQB-secret-string"},
            {"name": "b2", "api_id": 6, "api_hash": "h", "session_string": "AQC-secret-string"},
        ],
    )
    ok, lines = await check(settings)
    assert not ok  # the dead Bot API
    assert "ok   assistant a1: session string present (api_id 5)" in lines
    assert "ok   assistant b2: session string present (api_id 6)" in lines
    assert not any("secret-string" in line for line in lines)


async def test_updates_line_says_how_updates_arrive(tmp_path: Path) -> None:
    hook = "https://bot.example/telegram/webhook"
    async with FakeBotAPI() as api:
        api.webhook = {"url": hook}
        polling = make_settings(api.url, tmp_path)
        ok, lines = await check(polling)
        assert not ok
        assert (
            f"FAIL updates: a webhook is set ({hook}): Telegram refuses polling until it is "
            'deleted (deleteWebhook), or set telegram.mode = "webhook"'
        ) in lines
        webhook = make_settings(
            api.url,
            tmp_path,
            telegram={"mode": "webhook", "webhook_url": hook, "webhook_secret": "s-1"},
            web={"enabled": True, "secret_key": "k" * 20},
        )
        ok, lines = await check(webhook)
        assert f"ok   updates: webhook: {hook}" in lines
        api.webhook["last_error_message"] = "Connection refused"
        ok, lines = await check(webhook)
        assert "FAIL updates: Telegram's last delivery failed: Connection refused" in lines
        api.webhook = {}
        ok, lines = await check(webhook)
        assert "ok   updates: webhook: set to telegram.webhook_url when the bot starts" in lines
