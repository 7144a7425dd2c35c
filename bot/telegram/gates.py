"""Keeping the dispatcher's path cheap: which commands a router answers, read from its
handlers' ``Command`` filters, the gates that let an update skip a router that cannot
answer it, and ``Magic``, for magic filters.

Why a gate: aiogram offers an update to the routers one after another, and each router
runs every handler's filters until one matches; a ``Command`` filter parses the text
again each time.  A /queue passed about twenty such checks in the routers before the
queue router, a fifth of what the whole command cost (benchmarks/README.md,
command_path).  A router whose message handlers all carry a ``Command`` filter cannot
answer text that names none of its commands, so one set lookup on its root decides.

A ``Gate`` decides without awaiting anything, so the dispatcher asks it before it even
enters the router (``SattvaDispatcher``): entering one (its middleware chain, its root
filter as a coroutine) cost more than the lookup that then turned the update away.
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


#: the updates gates stand on (each is a Message)
GATED_UPDATES = ("message", "edited_message", "channel_post")


class Gate(Filter):
    """A root filter on a router's message observers that needs no await: aiogram checks
    it as any filter, and ``SattvaDispatcher`` asks ``admits`` before entering the router."""

    def admits(self, message: Message) -> bool:
        raise NotImplementedError

    async def __call__(self, message: Message) -> bool:
        return self.admits(message)

    def stand_on(self, router: Router) -> None:
        for update in GATED_UPDATES:
            router.observers[update].filter(self)


class NamesOneOf(Gate):
    """True when the message is a command named in ``names`` (any case, any bot mention):
    a superset of what the router's own ``Command`` filters accept, which still decide."""

    def __init__(self, names: frozenset[str], prefixes: str) -> None:
        self.names = names
        self.prefixes = prefixes

    def admits(self, message: Message) -> bool:
        return command_name(message.text or message.caption, self.prefixes) in self.names


class Carries(Gate):
    """True when the message has ``field`` set (a service message's mark, such as
    ``migrate_to_chat_id``): a plain attribute read, where ``Magic`` resolves an F."""

    def __init__(self, field: str) -> None:
        self.field = field

    def admits(self, message: Message) -> bool:
        return getattr(message, self.field, None) is not None


def gate_by_commands(router: Router) -> NamesOneOf | None:
    """Puts a ``NamesOneOf`` root filter on ``router``'s message observers when all its
    message handlers are commands (or it has none: then nothing passes); the gate if it
    did."""
    names, prefixes, only_commands = commands_of(router)
    if not only_commands:
        return None
    gate = NamesOneOf(names, prefixes)
    gate.stand_on(router)
    return gate


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
