"""Updates to the node that owns their chat, over the accounts' Redis Streams: in-process
routers on one real redis-server, each with its own aiogram dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from redis.asyncio import Redis

from bot.cluster.leases import Leases
from bot.cluster.routing import GROUP, STREAM, Router
from bot.storage.redis_queue import open_wire
from bot.storage.redis_wire import RedisWire
from bot.telegram.sender import BEFORE_ANSWER

TOKEN = "123456:TEST-token-for-the-routing-test"
GROUP_CHAT, OTHER_CHAT, PRIVATE = -1001, -1002, 77


@dataclass
class Owner:
    """What the router asks of its node: the accounts and which are held here."""

    node: str
    held: set[str]
    names: list[str] = field(default_factory=lambda: ["a1", "a2"])
    adopted: dict[int, str] = field(default_factory=dict)

    def assistant_of(self, chat_id: int) -> str | None:
        return None

    def holds(self, name: str) -> bool:
        return name in self.held

    def adopt(self, chat_id: int, name: str) -> None:
        self.adopted[chat_id] = name


@dataclass
class Assignments:
    rows: dict[int, str] = field(default_factory=dict)
    reads: int = 0

    async def get(self, chat_id: int) -> str | None:
        self.reads += 1
        return self.rows.get(chat_id)

    async def claim(self, chat_id: int, assistant: str) -> str:
        return self.rows.setdefault(chat_id, assistant)

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in self.rows.values():
            counts[name] = counts.get(name, 0) + 1
        return counts


@dataclass
class Node:
    router: Router
    owner: Owner
    handled: list[int] = field(default_factory=list)


def message(update_id: int, chat_id: int, text: str) -> Update:
    chat_type = "private" if chat_id > 0 else "supergroup"
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": chat_type, "title": "g"},
                "from": {"id": 5, "is_bot": False, "first_name": "Bob"},
                "text": text,
            },
        }
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def wire(redis_url: str) -> AsyncIterator[RedisWire]:
    client = open_wire(redis_url)
    yield client
    await client.close()


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    bot = Bot(TOKEN)
    yield bot
    await bot.session.close()


@pytest.fixture
def assignments() -> Assignments:
    return Assignments({GROUP_CHAT: "a2"})


@pytest.fixture
async def make_node(wire: RedisWire, bot: Bot, assignments: Assignments) -> AsyncIterator[Any]:
    made: list[Node] = []

    def make(name: str, held: set[str], after: Callable[[], Awaitable[None]] | None = None) -> Node:
        """``after``: awaited by the handler once it has recorded the update."""
        owner = Owner(name, held)
        router = Router(wire, owner, assignments, dp=None, bot=bot)
        node = Node(router, owner)
        dp = Dispatcher()

        @dp.message()
        async def handle(message: Any) -> None:
            node.handled.append(message.message_id)
            if after is not None:
                await after()

        router.attach(dp)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.router.close()


async def until(check: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_update_is_handled_by_its_chats_owner_once(
    make_node: Any, redis: Redis, bot: Bot
) -> None:
    here, owner = make_node("n1", {"a1"}), make_node("n2", {"a2"})
    dp_here = here.router._dp
    assert dp_here is not None
    await owner.router.serve("a2")
    await dp_here.feed_update(bot, message(1, GROUP_CHAT, "/play x"))
    # private chats and commands that touch no playback run where they arrive
    await dp_here.feed_update(bot, message(2, PRIVATE, "/play x"))
    await dp_here.feed_update(bot, message(3, GROUP_CHAT, "/stats"))
    await until(lambda: owner.handled == [1])
    assert here.handled == [2, 3]
    assert owner.owner.adopted == {GROUP_CHAT: "a2"}
    # handled means acknowledged and gone from the stream
    for _ in range(100):
        if await redis.xlen(STREAM + "a2") == 0:
            break
        await asyncio.sleep(0.05)
    assert await redis.xlen(STREAM + "a2") == 0
    assert here.router.forwarded["out"] == 1
    assert owner.router.forwarded["in"] == 1


async def test_the_next_holder_takes_what_the_old_one_left_pending(
    make_node: Any, redis: Redis, bot: Bot
) -> None:
    here = make_node("n1", {"a1"})
    dp_here = here.router._dp
    assert dp_here is not None
    await dp_here.feed_update(bot, message(7, GROUP_CHAT, "/skip"))
    # the old holder read it and died before acknowledging it
    await redis.xgroup_create(STREAM + "a2", GROUP, id="0", mkstream=True)
    read: Any = await redis.xreadgroup(GROUP, "dead-node", {STREAM + "a2": ">"}, count=10)
    assert len(read[0][1]) == 1
    pending = await redis.xpending(STREAM + "a2", GROUP)
    assert pending["pending"] == 1
    heir = make_node("n3", {"a2"})
    heir.router.claim_idle = 2.0  # CLAIM_IDLE_SECONDS, shortened for the test
    await heir.router.serve("a2")
    # too fresh: the old holder may still be answering it (it gets DRAIN_SECONDS for that)
    await asyncio.sleep(0.5)
    assert heir.handled == []
    await until(lambda: heir.handled == [7])
    for _ in range(100):
        if (await redis.xpending(STREAM + "a2", GROUP))["pending"] == 0:
            break
        await asyncio.sleep(0.05)
    assert (await redis.xpending(STREAM + "a2", GROUP))["pending"] == 0


async def test_an_answered_update_is_never_run_again(
    make_node: Any, redis: Redis, bot: Bot
) -> None:
    """Its owner answers (the Sender awaits BEFORE_ANSWER first) and dies before the
    handler returns: the entry is acknowledged already, so the next holder of the account
    does not run the command a second time (the chat saw it answered once)."""
    answered = asyncio.Event()

    async def answer_then_die() -> None:
        before = BEFORE_ANSWER.get()
        assert before is not None
        await before()
        answered.set()
        await asyncio.Event().wait()  # killed here: the handler never returns

    here = make_node("n1", {"a1"})
    owner = make_node("n2", {"a2"}, after=answer_then_die)
    await owner.router.serve("a2")
    dp_here = here.router._dp
    assert dp_here is not None
    await dp_here.feed_update(bot, message(9, GROUP_CHAT, "/play x"))
    await asyncio.wait_for(answered.wait(), 10)
    assert (await redis.xpending(STREAM + "a2", GROUP))["pending"] == 0
    heir = make_node("n3", {"a2"})
    heir.router.claim_idle = 0.2
    await heir.router.serve("a2")
    await asyncio.sleep(1.5)  # claim rounds every second: one ran after the idle time
    assert (owner.handled, heir.handled) == ([9], [])


async def test_a_new_chat_goes_to_the_least_loaded_held_account(
    make_node: Any, redis: Redis
) -> None:
    here = make_node("n1", {"a1"})
    # a1 is held by a live node, a2 by none: only a1 may take the new chat
    await redis.set(Leases.key("a1"), "n1|1")
    assert await here.router.assistant_for(OTHER_CHAT) == "a1"
    # both held, one chat each: the next two new chats go one to each
    await redis.set(Leases.key("a2"), "n2|1")
    third = await here.router.assistant_for(-1003)
    fourth = await here.router.assistant_for(-1004)
    assert {third, fourth} == {"a1", "a2"}


async def test_entries_of_two_accounts_with_the_same_id_both_run_at_once(
    make_node: Any, redis: Redis
) -> None:
    """Stream ids are per stream: two accounts' streams give an entry added in the same
    millisecond the same id, and the one read second was taken for one already running
    (left pending until claimed as idle: 12 s for a forwarded command)."""
    node = make_node("n1", {"a1", "a2"})
    node.owner.names = ["a1", "a2"]
    for name, update_id in (("a1", 11), ("a2", 12)):
        body = message(update_id, GROUP_CHAT, "/queue").model_dump_json(exclude_none=True)
        await redis.xadd(STREAM + name, {"update": body, "hops": "0"}, id="1700000000000-0")
    await node.router.serve("a1")
    await node.router.serve("a2")
    await until(lambda: sorted(node.handled) == [11, 12], timeout=3)


async def test_a_chats_account_is_read_from_the_database_once_a_while(
    make_node: Any, assignments: Assignments, bot: Bot
) -> None:
    """It was a database transaction per forwarded update, as costly as the command."""
    here, owner = make_node("n1", {"a1"}), make_node("n2", {"a2"})
    await owner.router.serve("a2")
    dp_here = here.router._dp
    assert dp_here is not None
    for update_id in range(20, 25):
        await dp_here.feed_update(bot, message(update_id, GROUP_CHAT, "/queue"))
    await until(lambda: len(owner.handled) == 5)
    assert assignments.reads == 2  # once where it arrived, once at its owner
    here.router._assigned.forget(GROUP_CHAT)  # as if ASSIGNMENT_SECONDS went by
    await dp_here.feed_update(bot, message(25, GROUP_CHAT, "/queue"))
    await until(lambda: len(owner.handled) == 6)
    assert assignments.reads == 3
