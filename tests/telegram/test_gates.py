"""The dispatcher's cheap path: routers gated by the commands they answer, and no filter
or handler that aiogram would run in a worker thread."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.telegram.gates import Magic, NamesOneOf, command_name, commands_of, gate_by_commands
from tests.support.bot_rig import BotRig
from tests.support.tg_objects import user
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
    assert gate_by_commands(router) is False
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
