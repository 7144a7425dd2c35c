"""The dispatcher's cheap path: routers gated by the commands they answer, and no filter
or handler that aiogram would run in a worker thread."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message, TelegramObject, Update

from bot.telegram.dispatcher import SattvaDispatcher
from bot.telegram.gates import (
    Carries,
    Magic,
    NamesOneOf,
    command_name,
    commands_of,
    gate_by_commands,
)
from tests.support.bot_rig import BotRig
from tests.support.tg_objects import chat, user
from tests.telegram.conftest import GROUP

MEMBER = user(78, "Member")


async def noop(message: Message) -> None:
    """A handler for routers built here."""


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("/queue", "queue"),
        ("/Queue@SattvaBot 2", "queue"),
        ("/play\nsong", "play"),
        ("/", ""),
        ("queue", None),
        ("", None),
        (None, None),
    ],
)
def test_the_command_a_text_names(text: str | None, name: str | None) -> None:
    assert command_name(text) == name


def test_a_router_of_commands_only_may_be_gated() -> None:
    router = Router()
    router.message.register(noop, Command("Queue", "now"))
    router.channel_post.register(noop, Command("skip", prefix="!/"))
    assert commands_of(router) == (frozenset({"queue", "now", "skip"}), "!/", True)


@pytest.mark.parametrize(
    "other",
    [
        (),  # a handler for every message
        (Magic(F.photo),),  # a handler for some messages that are not commands
        (Command(re.compile(r"track_\d+")),),  # a command no set of names stands for
    ],
)
def test_a_router_with_any_other_message_handler_is_not_gated(
    other: tuple[Callable[..., Any], ...],
) -> None:
    router = Router()
    router.message.register(noop, Command("queue"))
    sub = Router()
    sub.message.register(noop, *other)
    router.include_router(sub)
    assert commands_of(router)[2] is False
    assert gate_by_commands(router) is None
    assert not router.message._handler.filters


async def test_every_router_but_the_upgrade_one_is_gated(fed: BotRig) -> None:
    gated = {
        router.name
        for router in fed.dp.sub_routers
        if any(isinstance(f.callback, NamesOneOf) for f in router.message._handler.filters or ())
    }
    assert {router.name for router in fed.dp.sub_routers} - gated == {"upgrade"}


async def test_no_filter_or_handler_runs_in_a_thread(fed: BotRig) -> None:
    """aiogram runs any callable that is not a coroutine function in a worker thread: a
    thread hand-off for every update that reaches it (``Magic`` is the way for F)."""
    threaded = []
    for router in fed.dp.chain_tail:
        for kind, observer in router.observers.items():
            callables = [*(observer._handler.filters or ())]
            for handler in observer.handlers:
                callables += [handler, *(handler.filters or ())]
            threaded += [
                f"{router.name}.{kind}: {c.callback!r}" for c in callables if not c.awaitable
            ]
    assert threaded == []


async def test_gated_routers_still_answer_their_commands(fed: BotRig) -> None:
    """One command of a router far down the list, with a mention and arguments; text that
    is no command passes every gate unanswered."""
    assert await fed.texts_in(GROUP, MEMBER, "/queue@sattva_test_bot 1")
    assert await fed.texts_in(GROUP, MEMBER, "/authlist")
    assert await fed.texts_in(GROUP, MEMBER, "just chatting about /queue") == []


class CountedGate(NamesOneOf):
    """Counts the times aiogram awaited it: only when a router is entered."""

    def __init__(self, *names: str) -> None:
        super().__init__(frozenset(names), "/")
        self.entered = 0

    async def __call__(self, message: Message) -> bool:
        self.entered += 1
        return await super().__call__(message)


def text_update(update_id: int, text: str) -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": chat(GROUP),
                "from": MEMBER,
                "text": text,
            },
        }
    )


async def test_the_dispatcher_enters_only_routers_whose_gates_admit_the_message() -> None:
    answered: list[str] = []
    plain_gate, watched_gate = CountedGate("first"), CountedGate("second")
    plain, watched, upgrade = Router(name="plain"), Router(name="watched"), Router()

    async def first(message: Message) -> None:
        answered.append(f"first {message.message_id}")

    async def second(message: Message) -> None:
        answered.append(f"second {message.message_id}")

    async def upgraded(message: Message) -> None:
        answered.append(f"upgraded {message.message_id}")

    plain.message.register(first)
    plain_gate.stand_on(plain)
    watched.message.register(second)
    watched_gate.stand_on(watched)
    seen: list[int] = []

    async def outer(handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Message)
        seen.append(event.message_id)
        return await handler(event, data)

    # an outer middleware runs before the root filters: that router is always entered
    watched.message.outer_middleware(outer)
    upgrade.message.register(upgraded)
    Carries("migrate_to_chat_id").stand_on(upgrade)
    dp = SattvaDispatcher()
    dp.include_routers(plain, watched, upgrade)
    dp.seal()
    bot = Bot("42:TEST")
    for update_id, text in enumerate(["/first", "/second", "chatting", "/first@bot x"], 1):
        await dp.feed_update(bot, text_update(update_id, text))
    late = Router(name="late")
    late.message.register(upgraded)
    dp.include_router(late)  # after sealing: entered all the same
    await dp.feed_update(bot, text_update(5, "chatting"))
    await bot.session.close()
    assert answered == ["first 1", "second 2", "first 4", "upgraded 5"]
    assert plain_gate.entered == 2  # only for its two commands
    assert watched_gate.entered == 3  # every message the first router did not answer
    assert seen == [2, 3, 5]


async def test_the_dispatchers_own_root_filter_still_decides_first() -> None:
    answered: list[int] = []
    plain = Router()

    async def handler(message: Message) -> None:
        answered.append(message.message_id)

    plain.message.register(handler)
    CountedGate("first").stand_on(plain)
    dp = SattvaDispatcher()
    dp.include_router(plain)

    async def only_even(message: Message) -> bool:
        return message.message_id % 2 == 0

    dp.message.filter(only_even)
    dp.seal()
    bot = Bot("42:TEST")
    for update_id in (1, 2):
        await dp.feed_update(bot, text_update(update_id, "/first"))
    await bot.session.close()
    assert answered == [2]
