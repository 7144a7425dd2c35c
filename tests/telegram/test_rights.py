"""Every command declares who may run it where it is registered; the README's table is
the expectation.  A command added without a declaration fails here, not in a chat."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command

from bot.telegram.rights import FLAG, Need
from bot.telegram.routers import auth, basic, owner, playback, queue, settings

EXPECTED = {
    "play": Need.PLAY,
    "vplay": Need.PLAY,
    **dict.fromkeys(
        ("skip", "end", "stop", "pause", "resume", "seek", "volume", "loop"), Need.CONTROL
    ),
    **dict.fromkeys(("shuffle", "remove", "move", "clear", "speed"), Need.CONTROL),
    **dict.fromkeys(("settings", "auth", "unauth", "lang"), Need.CONFIGURE),
    **dict.fromkeys(("stats", "broadcast"), Need.OWNER),
    **dict.fromkeys(("queue", "now", "authlist", "help", "start"), None),
}


def declared(router: Router) -> dict[str, Need | None]:
    found: dict[str, Need | None] = {}
    for handler in router.message.handlers:
        for f in handler.filters or ():
            if isinstance(f.callback, Command):
                for name in f.callback.commands:
                    found[str(name)] = handler.flags.get(FLAG)
    return found


def test_every_command_declares_its_right() -> None:
    found: dict[str, Need | None] = {}
    for module in (playback, queue, settings, auth, owner, basic):
        found.update(declared(module.build_router()))
    assert found == EXPECTED
