"""Command latency is observed under a bounded set of labels; chats are recorded once."""

from __future__ import annotations

import asyncio
import time

from aiogram.types import Chat, Update

from bot.metrics import REGISTRY
from bot.telegram.middlewares import CommandTimer, KnownChats
from tests.support.bot_rig import BotRig
from tests.support.tg_objects import user
from tests.telegram.conftest import GROUP

MEMBER = user(77, "Member")


def count(command: str) -> float:
    value = REGISTRY.get_sample_value("sattva_command_seconds_count", {"command": command})
    return value or 0.0


def labels() -> set[str]:
    return {
        sample.labels["command"]
        for family in REGISTRY.collect()
        if family.name == "sattva_command_seconds"
        for sample in family.samples
    }


async def test_commands_are_timed_by_name_and_junk_folds_into_other(fed: BotRig) -> None:
    before = {name: count(name) for name in ("queue", "play", "other")}
    await fed.feed(fed.updates.message(GROUP, MEMBER, "/queue"))
    await fed.feed(fed.updates.message(GROUP, MEMBER, "/QUEUE@sattva_bot 2"))
    await fed.feed(fed.updates.message(GROUP, MEMBER, "/play"))
    for n in range(50):
        await fed.feed(fed.updates.message(GROUP, MEMBER, f"/junk{n} x"))
    await fed.feed(fed.updates.message(GROUP, MEMBER, "just chatting"))
    assert count("queue") == before["queue"] + 2
    assert count("play") == before["play"] + 1
    assert count("other") == before["other"] + 50
    assert not {name for name in labels() if name.startswith("junk")}


async def test_label_set_is_what_the_routers_register(fed: BotRig) -> None:
    timers = [m for m in fed.dp.message.outer_middleware if isinstance(m, CommandTimer)]
    assert len(timers) == 1
    assert {"play", "queue", "skip", "end", "stop", "help", "start"} <= timers[0].commands


async def test_each_answered_long_poll_is_stamped(rig: BotRig) -> None:
    gauge = "sattva_polling_last_success_timestamp_seconds"
    before = REGISTRY.get_sample_value(gauge) or 0.0
    started = time.time()
    await rig.say(GROUP, MEMBER, "/queue")
    deadline = time.monotonic() + 10
    while (REGISTRY.get_sample_value(gauge) or 0.0) <= max(before, started - 1):
        assert time.monotonic() < deadline, "no getUpdates answer was stamped"
        await asyncio.sleep(0.05)


class RecordingChats:
    """What KnownChats hands the settings store (the store itself is tested on its own)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str | None]] = []

    async def ensure_chat(self, chat_id: int, title: str, username: str | None = None) -> None:
        self.seen.append((chat_id, title, username))


async def test_known_chats_records_a_public_chats_username_once() -> None:
    repo = RecordingChats()
    known = KnownChats(repo)  # type: ignore[arg-type]

    async def handler(event: object, data: dict[str, object]) -> str:
        return "handled"

    public = Chat(id=-1001, type="supergroup", title="Night Radio", username="night_radio")
    private = Chat(id=-1002, type="supergroup", title="Family")
    for chat in (public, public, private):
        assert await known(handler, Update(update_id=1), {"event_chat": chat}) == "handled"
    assert repo.seen == [(-1001, "Night Radio", "night_radio"), (-1002, "Family", None)]


async def test_a_new_chats_updates_arriving_together_record_it_once() -> None:
    """A burst from a new group: the first update's write is still going on when the
    others arrive; a failed write leaves the chat for the next update to record."""
    repo = RecordingChats()
    known = KnownChats(repo)  # type: ignore[arg-type]
    release = asyncio.Event()
    failing = True
    calls = 0

    async def slow_ensure_chat(chat_id: int, title: str, username: str | None = None) -> None:
        nonlocal calls
        calls += 1
        await release.wait()
        if failing:
            raise OSError("database is locked")
        repo.seen.append((chat_id, title, username))

    repo.ensure_chat = slow_ensure_chat  # type: ignore[method-assign]

    async def handler(event: object, data: dict[str, object]) -> str:
        return "handled"

    chat = Chat(id=-1003, type="supergroup", title="Burst")
    burst = [
        asyncio.create_task(known(handler, Update(update_id=n), {"event_chat": chat}))
        for n in range(20)
    ]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*burst) == ["handled"] * 20
    assert (calls, repo.seen) == (1, [])  # one write for the burst, and it failed
    failing = False
    await known(handler, Update(update_id=21), {"event_chat": chat})
    await known(handler, Update(update_id=22), {"event_chat": chat})
    assert (calls, repo.seen) == (2, [(-1003, "Burst", None)])
