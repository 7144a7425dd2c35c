"""Keeping the dispatcher's path cheap: which commands a router answers, read from its
handlers' ``Command`` filters, the gate that lets an update skip a router that answers
none of them, and ``Magic``, for magic filters.

Why a gate: aiogram offers an update to the routers one after another, and each router
runs every handler's filters until one matches; a ``Command`` filter parses the text
again each time.  A /queue passed about twenty such checks in the routers before the
queue router, a fifth of what the whole command cost (benchmarks/README.md,
command_path).  A router whose message handlers all carry a ``Command`` filter cannot
answer text that names none of its commands, so one set lookup on its root decides.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command, Filter
from aiogram.types import Message, TelegramObject
from magic_filter import MagicFilter


def command_name(text: str | None, prefixes: str = "/") -> str | None:
    """The command a message's text names ("/Queue@SattvaBot 2" -> "queue"), casefolded;
    None when the text is not a command."""
    if not text or text[0] not in prefixes:
        return None
    return text.split(maxsplit=1)[0][1:].split("@", 1)[0].casefold()


def _observers(router: Router) -> list[TelegramEventObserver]:
    return [
        observer
        for each in router.chain_tail
        for observer in (each.message, each.edited_message, each.channel_post)
    ]


def commands_of(router: Router) -> tuple[frozenset[str], str, bool]:
    """The command names ``router`` (and the routers below it) answer, casefolded; the
    prefixes they are written with; and whether every message handler in it has a
    ``Command`` filter naming its commands as text (only then may it be gated)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    only_commands = True
    for observer in _observers(router):
        for handler in observer.handlers:
            commands = [
                f.callback for f in handler.filters or () if isinstance(f.callback, Command)
            ]
            if not commands:
                only_commands = False
            for command in commands:
                prefixes.update(command.prefix)
                for name in command.commands:
                    if isinstance(name, str):
                        names.add(name.casefold())
                    else:  # a pattern: no set of names can stand for it
                        only_commands = False
    return frozenset(names), "".join(sorted(prefixes)) or "/", only_commands


class NamesOneOf(Filter):
    """True when the message is a command named in ``names`` (any case, any bot mention):
    a superset of what the router's own ``Command`` filters accept, which still decide."""

    def __init__(self, names: frozenset[str], prefixes: str) -> None:
        self.names = names
        self.prefixes = prefixes

    async def __call__(self, message: Message) -> bool:
        return command_name(message.text or message.caption, self.prefixes) in self.names


def gate_by_commands(router: Router) -> bool:
    """Puts a ``NamesOneOf`` root filter on ``router``'s message observers when all its
    message handlers are commands (or it has none: then nothing passes); True if it did."""
    names, prefixes, only_commands = commands_of(router)
    if not only_commands:
        return False
    gate = NamesOneOf(names, prefixes)
    for observer in (router.message, router.edited_message, router.channel_post):
        observer.filter(gate)
    return True


class Magic(Filter):
    """A magic filter (``F.migrate_to_chat_id``) checked on the event loop.

    aiogram runs every filter that is not a coroutine in a worker thread
    (``asyncio.to_thread``), a bare ``F`` expression included: a thread hand-off for each
    message that reaches it, a tenth of a whole /queue's CPU (benchmarks/README.md,
    command_path).  ``tests/telegram/test_gates.py`` keeps any such filter out."""

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self.magic.resolve(event)
