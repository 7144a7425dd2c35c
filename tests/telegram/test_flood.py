"""Junk commands in a group do not delay the answers to real ones (Telegram's ~20 messages a
minute per group): minor answers wait behind the others, leave a few slots free, and merge."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.telegram.sender import Sender
from bot.telegram.throttle import MINOR, NORMAL, RateLimiter
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import Call, FakeBotAPI
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, script_group

PLAY_USAGE = "Usage: /play"
REFUSAL = "Only admins who can manage voice chats"


def junk(call: Call) -> bool:
    return call.text.startswith((PLAY_USAGE, REFUSAL))


async def test_a_junk_flood_does_not_delay_the_answer_to_a_real_command(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> None:
    script_group(fake_api)
    # like Telegram's 20 a minute per group, faster; minor answers may use 6 of the 8
    sender = Sender(group_limit=8, group_window=6.0)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, sender=sender) as rig:
        start = fake_api.mark()

        def junk_sent() -> list[Call]:
            return [
                c
                for c in fake_api.calls[start:]
                if c.method == "sendMessage" and c.chat_id == GROUP and junk(c)
            ]

        for i in range(30):  # a usage line and a refusal, over and over, from one member
            rig.push(rig.updates.message(GROUP, MEMBER, "/play" if i % 2 else "/volume 50"))
        await fake_api.wait_text(
            GROUP, lambda c: junk(c) and len(junk_sent()) >= 6, after=start, timeout=15
        )
        # the budget junk may use is spent; a real command from someone else
        asked = fake_api.mark()
        rig.push(rig.updates.message(GROUP, ADMIN, "/queue"))
        answer = await fake_api.wait_text(GROUP, "The queue is empty", after=asked)
        # the rest of the junk answers, merged, once the window has room again
        merged = await fake_api.wait_text(
            GROUP, lambda c: junk(c) and c.at > answer.at, after=asked, timeout=15
        )
    later = [c for c in junk_sent() if fake_api.calls.index(c) >= asked]
    assert later
    assert all(c.at >= answer.at for c in later)
    assert len(junk_sent()) <= 8  # not 30: the waiting ones were merged
    lines = merged.text.splitlines()
    assert len(lines) == 2  # each sentence once
    assert any(line.startswith(PLAY_USAGE) for line in lines)
    assert any(line.startswith(REFUSAL) for line in lines)


async def test_limiter_serves_normal_before_minor_and_keeps_the_reserve() -> None:
    limiter = RateLimiter(3, 0.5, reserve=1)
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        await limiter.acquire(priority)
        order.append(name)

    await take("minor-1", MINOR)
    await take("minor-2", MINOR)
    assert limiter.delay(MINOR) > 0  # the last slot is left to normal sends
    assert limiter.delay(NORMAL) == 0
    waiting = asyncio.create_task(take("minor-3", MINOR))
    await asyncio.sleep(0.05)
    await take("normal-1", NORMAL)  # goes at once, past the waiting minor send
    later = asyncio.create_task(take("normal-2", NORMAL))
    await asyncio.gather(waiting, later)
    assert order == ["minor-1", "minor-2", "normal-1", "normal-2", "minor-3"]


def test_minor_reserve_defaults_to_a_quarter_of_the_group_budget() -> None:
    assert Sender().chat_limiter(-5).reserve == 5
    assert Sender().chat_limiter(5).reserve == 0
    assert Sender(group_limit=8, minor_reserve=0).chat_limiter(-5).reserve == 0
