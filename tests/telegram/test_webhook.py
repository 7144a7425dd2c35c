"""Webhook intake on the real application: setWebhook at start, the secret header checked,
each update_id handled once (in Redis, so across processes), the sidecar's Origin check not
in the way of Telegram's posts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Application
from bot.config import Settings, settings_from_mapping
from bot.telegram.claims import BLOCK_IDS, ClaimUnavailable, MemoryClaims, RedisClaims
from tests.support.fake_botapi import FakeBotAPI
from tests.support.procs import RedisServer, free_port
from tests.support.tg_objects import UpdateFactory, user

GROUP = -1001800000001
ALICE = user(10, "Alice")
SECRET = "hook_secret-123"


def webhook_settings(api: FakeBotAPI, tmp_path: Path, redis_url: str, port: int) -> Settings:
    return settings_from_mapping(
        {
            "telegram": {
                "bot_token": api.token,
                "api_base": api.url,
                "mode": "webhook",
                "webhook_url": "https://bot.example/telegram/webhook",
                "webhook_secret": SECRET,
                "calls_per_second": 25,
            },
            "engine": {"kind": "local"},
            "storage": {
                "database_url": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
                "redis_url": redis_url,
            },
            "sources": {"cache_dir": str(tmp_path / "cache"), "ytdlp_enabled": False},
            "web": {"port": port, "secret_key": "webhook-test-secret-key"},
        }
    )


@pytest.fixture
async def running(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[FakeBotAPI, str]]:
    async with FakeBotAPI() as api:
        hooks: list[dict[str, Any]] = []

        def set_webhook(params: dict[str, Any]) -> bool:
            hooks.append(params)
            return True

        api.on("setWebhook", set_webhook)
        port = free_port()
        app = Application(webhook_settings(api, tmp_path, redis_url, port))
        await app.start()
        try:
            assert [(h["url"], h["secret_token"]) for h in hooks] == [
                ("https://bot.example/telegram/webhook", SECRET)
            ]
            assert api.calls_of("getUpdates") == []  # webhook mode never polls
            # the process's Bot API budget is the configured one (a cluster node's share)
            assert app.parts.sender.global_limiter.limit == 25
            yield api, f"http://127.0.0.1:{port}/telegram/webhook"
        finally:
            await app.stop()


async def post(url: str, body: Any, secret: str | None = SECRET) -> tuple[int, Any]:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_updates_are_handled_once_and_only_with_the_secret(
    running: tuple[FakeBotAPI, str],
) -> None:
    api, url = running
    update = {"update_id": 5001, **UpdateFactory(api).message(GROUP, ALICE, "/help")}

    assert (await post(url, update, secret=None))[0] == 401
    assert (await post(url, update, secret="wrong"))[0] == 403
    assert (await post(url, update, secret=SECRET + "x"))[0] == 403
    assert api.sent_texts(GROUP) == []

    assert await post(url, update) == (200, {})
    async with asyncio.timeout(10):
        await api.wait_call("sendMessage", chat_id=GROUP)
    # Telegram delivers it again (a slow answer, a crash): nothing happens twice
    assert await post(url, update) == (200, {})
    assert await post(url, update) == (200, {})
    await asyncio.sleep(0.5)
    assert len(api.calls_of("sendMessage", GROUP)) == 1

    assert (await post(url, {"no": "update"}))[0] == 400


async def test_a_delivery_that_cannot_be_claimed_is_refused_and_taken_later(
    running: tuple[FakeBotAPI, str], redis_server: RedisServer
) -> None:
    """Redis down: the update is not handled unclaimed (another node could handle Telegram's
    next delivery of it too); 503 makes Telegram deliver it again, and then it runs once."""
    api, url = running
    update = {"update_id": 6001, **UpdateFactory(api).message(GROUP, ALICE, "/help")}
    redis_server.stop()
    try:
        status, answer = await post(url, update)
        assert (status, answer["ok"]) == (503, False)
    finally:
        redis_server.start()
    await asyncio.sleep(0.5)
    assert api.sent_texts(GROUP) == []
    assert await post(url, update) == (200, {})
    await api.wait_call("sendMessage", chat_id=GROUP)
    assert await post(url, update) == (200, {})
    await asyncio.sleep(0.5)
    assert len(api.calls_of("sendMessage", GROUP)) == 1


async def test_redis_claims_are_shared_between_processes(redis_url: str) -> None:
    first = RedisClaims.from_url(redis_url, bot_id=1)
    second = RedisClaims.from_url(redis_url, bot_id=1)
    other_bot = RedisClaims.from_url(redis_url, bot_id=2, seconds=1)
    try:
        assert await first.first(77)
        assert not await second.first(77)
        assert await second.claimed(77)
        assert not await second.claimed(78)
        assert await other_bot.first(77)  # another bot's ids are its own
        # neighbours in a block and ids across a block's edge are separate claims
        for update_id in (78, BLOCK_IDS - 1, BLOCK_IDS, 5 * BLOCK_IDS + 3):
            assert await second.first(update_id)
            assert not await first.first(update_id)
        await asyncio.sleep(1.2)
        assert await other_bot.first(77)  # expired: the block does not live forever
    finally:
        for claims in (first, second, other_bot):
            await claims.close()


async def test_redis_claims_fail_closed_when_redis_is_unreachable() -> None:
    claims = RedisClaims.from_url(f"redis://127.0.0.1:{free_port()}/0", bot_id=1)
    try:
        with pytest.raises(ClaimUnavailable):
            await claims.first(1)
    finally:
        await claims.close()


async def test_memory_claims_forget_after_their_time_and_are_bounded() -> None:
    now = [0.0]
    claims = MemoryClaims(seconds=10, limit=3, clock=lambda: now[0])
    assert [await claims.first(i) for i in (1, 2, 1)] == [True, True, False]
    now[0] = 11
    assert await claims.first(1)
    for i in (3, 4, 5):
        assert await claims.first(i)
    assert len(claims._seen) <= 3
