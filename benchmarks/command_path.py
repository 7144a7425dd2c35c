"""command_path: /queue answered through the real dispatcher with long polling, versus a
bare aiogram bot answering every message with a fixed text, both against the fake Bot API.

Both bots poll their own instance of the same fake Bot API server (one instance each, so
neither steals the other's updates), in this process.  Rounds alternate: ours, bare, ours,
bare...; each round pushes a burst of updates at once and waits for every answer.

Telegram's throttling is raised in our Sender (per chat and global limits): with the real
limits (~20 messages a minute per group, 30 a second overall) the benchmark would measure
the throttle, not the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from benchmarks.common import Result, locales, redis_server, scratch_dir
from bot.domain.models import Track
from bot.storage.redis_queue import RedisQueueStore
from bot.telegram.sender import Sender
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import TOKEN, FakeBotAPI
from tests.support.tg_objects import UpdateFactory, user

ROUNDS = 3
PER_ROUND = 800  # 2,400 commands a side in all
# two whole bursts: the Redis pool reaches its steady size (~240 connections opened, each
# a connect) during the SECOND burst, not the first (measured: burst one opens 2, burst two
# 240, later ones none), and a running bot has long done that
WARM_UP_BURSTS = 2
CHATS = 20  # groups the commands are spread over (each with a short queue)
QUEUED = 5
MEMBER = user(42, "Bench Member")
UNTHROTTLED = 1_000_000


def chats() -> list[int]:
    return [-100_700_000_000 - i for i in range(CHATS)]


class Replies:
    """Counts successful sendMessage answers recorded by a fake API since a mark."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.index = len(api.calls)
        self.count = 0

    async def wait(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            calls = self.api.calls
            while self.index < len(calls):
                call = calls[self.index]
                self.index += 1
                if call.method == "sendMessage" and call.status == 200:
                    self.count += 1
            if self.count >= n:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.count} of {n} answers arrived")
            await asyncio.sleep(0.005)


async def burst(api: FakeBotAPI, updates: UpdateFactory, text: str, n: int) -> float:
    """Pushes ``n`` commands at once; seconds until every one is answered.

    Before each burst (either side) the collector runs and freezes what exists: this
    process also holds both fake Bot API servers and their logs of every call so far,
    which in production live at Telegram, and without the freeze each full collection
    walks that growing heap in whichever burst it happens to fall."""
    gc.collect()
    gc.freeze()
    replies = Replies(api)
    started = time.perf_counter()
    for i in range(n):
        api.push_update(updates.message(chats()[i % CHATS], MEMBER, text))
    await replies.wait(n)
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def bare_bot(api: FakeBotAPI) -> AsyncIterator[None]:
    """The floor: aiogram's own polling and one handler that answers a fixed text."""
    router = Router()

    @router.message()
    async def answer(message: Message) -> None:
        await message.answer("ok")

    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        await api.wait_call("getMe", timeout=10)
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            await dp.stop_polling()
        await task
        await bot.session.close()


async def fill_queues(redis_url: str) -> None:
    store = await RedisQueueStore.open(redis_url)
    try:
        for chat_id in chats():
            for n in range(QUEUED):
                track = Track(f"Bench song {n}", f"https://example.org/{n}.mp3", "/m.mp3")
                await store.enqueue(chat_id, track, limit=100)
    finally:
        await store.close()


async def run() -> Result:
    with scratch_dir() as workdir, redis_server(workdir) as redis:
        await fill_queues(redis.url)
        sender = Sender(
            group_limit=UNTHROTTLED, private_limit=UNTHROTTLED, global_limit=UNTHROTTLED
        )
        async with (
            FakeBotAPI() as ours_api,
            FakeBotAPI() as bare_api,
            BotRig.open(ours_api, workdir, redis.url, locales(workdir), sender=sender),
            bare_bot(bare_api),
        ):
            return await measure(ours_api, bare_api)


async def measure(ours_api: FakeBotAPI, bare_api: FakeBotAPI) -> Result:
    ours_updates, bare_updates = UpdateFactory(ours_api), UpdateFactory(bare_api)
    for _ in range(WARM_UP_BURSTS):
        await burst(ours_api, ours_updates, "/queue", PER_ROUND)
        await burst(bare_api, bare_updates, "hello", PER_ROUND)
    ours_time = bare_time = ours_cpu = bare_cpu = 0.0
    for _ in range(ROUNDS):
        cpu = time.process_time()
        ours_time += await burst(ours_api, ours_updates, "/queue", PER_ROUND)
        ours_cpu += time.process_time() - cpu
        cpu = time.process_time()
        bare_time += await burst(bare_api, bare_updates, "hello", PER_ROUND)
        bare_cpu += time.process_time() - cpu
    total = ROUNDS * PER_ROUND
    ours, bare = total / ours_time, total / bare_time
    queue_answer = ours_api.calls_of("sendMessage")[-1].text
    if "Up next (5)" not in queue_answer:
        raise AssertionError(f"/queue did not show the queue: {queue_answer!r}")
    return Result(
        bench="command_path",
        ours=ours,
        baseline=bare,
        target=">=0.7",
        unit="replies/s",
        rows=[
            ("commands per side", f"{total} in {ROUNDS} bursts of {PER_ROUND}, {CHATS} groups"),
            ("ours: /queue via dispatcher", f"{ours:.0f} replies/s ({ours_time:.2f} s)"),
            ("bare aiogram, fixed text", f"{bare:.0f} replies/s ({bare_time:.2f} s)"),
            (
                "CPU per reply (this process)",
                f"ours {ours_cpu / total * 1e3:.2f} ms, bare {bare_cpu / total * 1e3:.2f} ms"
                f" (bare/ours {bare_cpu / ours_cpu:.3f})",
            ),
        ],
        notes=[
            "Sender limits raised to 1e6 (Telegram's per-chat/global throttling off)",
            f"each /queue reads the chat's queue ({QUEUED} tracks) from Redis",
        ],
    )


def main() -> None:
    asyncio.run(run()).print()


if __name__ == "__main__":
    main()
