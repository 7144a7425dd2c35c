"""The Bot API misbehaves while commands arrive: 429 bursts, 5xx answers, answers later than
the client's timeout and dropped connections, on getUpdates and on sendMessage.  The bot
keeps polling, sends again, and every command gets its answer exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.telegram.conftest import MEMBER

EMPTY = "The queue is empty."
COMMANDS = 12
CHATS = [-1002000000000 - i for i in range(COMMANDS)]
CLIENT_TIMEOUT = 2.0

pytestmark = pytest.mark.slow


#: (method, kind) -> how many: getUpdates gets fewer, since aiogram's polling backs off
#: longer after each failure in a row (1 s growing to 5 s)
FAULTS = {
    ("getUpdates", "429"): 2,
    ("getUpdates", "502"): 1,
    ("getUpdates", "reset"): 1,
    ("getUpdates", "slow"): 1,
    ("sendMessage", "429"): 3,
    ("sendMessage", "502"): 2,
    ("sendMessage", "reset"): 3,
    ("sendMessage", "500"): 1,
    ("sendMessage", "slow"): 1,
}


def script_faults(api: FakeBotAPI) -> None:
    for (method, kind), times in FAULTS.items():
        if kind == "429":
            api.fail_flood(method, retry_after=1, times=times)
        elif kind == "reset":
            api.reset_next(method, times=times)
        elif kind == "slow":  # beyond the client's patience
            api.delay_next(method, CLIENT_TIMEOUT + 2.5, times=times)
        else:
            api.fail_next(method, int(kind), "Bad Gateway", times=times)


async def test_every_command_answered_once_through_api_faults(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> None:
    async with BotRig.open(
        fake_api,
        tmp_path,
        redis_url,
        locales_dir,
        client_timeout=CLIENT_TIMEOUT,
        polling_timeout=1,
    ) as rig:
        script_faults(fake_api)
        for chat_id in CHATS:
            rig.push(rig.updates.message(chat_id, MEMBER, "/queue"))
        deadline = time.monotonic() + 60
        while any(not fake_api.sent_texts(c) for c in CHATS):
            assert time.monotonic() < deadline, {c: fake_api.sent_texts(c) for c in CHATS}
            await asyncio.sleep(0.1)
        # every scripted fault was served, on both methods
        assert fake_api.pending_faults() == 0
        served = {(m, k): fake_api.faults.count((m, k)) for m, k in set(fake_api.faults)}
        assert served == FAULTS
        # polling still runs: a command after the storm is answered at once
        await rig.say(CHATS[0], MEMBER, "/queue", EMPTY, timeout=10)
        await asyncio.sleep(1.0)  # room for a late duplicate to show up
        assert rig.polling is not None
        assert not rig.polling.done()
        assert {c: fake_api.sent_texts(c) for c in CHATS} == {
            c: [EMPTY] * (2 if c == CHATS[0] else 1) for c in CHATS
        }
