"""Assembles the bot: the Bot object on the one send path, the dispatcher with every
router and middleware, and the announcer started and stopped with polling."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message, TelegramObject, Update
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.tasks import DRAIN_SECONDS, finish_or_cancel
from bot.telegram import commands, errors
from bot.telegram.announcer import Announcer
from bot.telegram.channel_posts import ChannelPosts
from bot.telegram.gates import GATED_UPDATES, Gate, commands_of, gate_by_commands
from bot.telegram.i18n import ChatLanguageMiddleware, make_i18n
from bot.telegram.middlewares import CommandTimer, KnownChats
from bot.telegram.nowplaying import NowPlayingCards
from bot.telegram.permissions import Permissions
from bot.telegram.rights import RightsMiddleware
from bot.telegram.routers import (
    auth,
    basic,
    channels,
    controls,
    elsewhere,
    owner,
    playback,
    playlists,
    queue,
    rtmp,
    settings,
)
from bot.telegram.sender import Sender
from bot.telegram.services import BotServices
from bot.telegram.session import BotSession
from bot.telegram.targets import TargetMiddleware

log = logging.getLogger(__name__)


class SattvaDispatcher(Dispatcher):
    """aiogram's Dispatcher that knows which updates it is handling, and that asks each
    router's gates before entering it.

    aiogram's polling runs each update in a task of its own and forgets it: on a stop, a
    ``/play`` halfway through its download or its store call was cut off when the stores
    closed under it (or when the loop ended).  The shutdown hook waits for them first
    (``drain``), so a command that was read gets its effect and its answer.

    The gates (``bot.telegram.gates``) are read once the routers are in (``seal``); a
    message then goes only into the routers whose gates admit it.  aiogram would enter
    each in turn just to have the same gate turn it away (``_propagate_event``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handling: set[asyncio.Task[Any]] = set()
        self._gates: dict[str, list[tuple[Router, tuple[Gate, ...]]]] = {}
        self._sealed_routers = 0  # how many sub-routers ``_gates`` knows (0: not sealed)

    def seal(self) -> None:
        """Reads every router's gates; call it once the routers and gates are in (a router
        included later has them read again at the next update).

        A router is only passed by when its gates are all there is to entering it: no
        outer middleware of its own (which aiogram runs before the root filters)."""
        self._gates = {
            update: [(router, _gates_of(router, update)) for router in self.sub_routers]
            for update in GATED_UPDATES
        }
        self._sealed_routers = len(self.sub_routers)

    async def _propagate_event(
        self,
        observer: TelegramEventObserver | None,
        update_type: str,
        event: TelegramObject,
        **kwargs: Any,
    ) -> Any:
        if self._sealed_routers != len(self.sub_routers) and self._sealed_routers:
            self.seal()  # a router came in after sealing (routers are only ever added)
        routes = self._gates.get(update_type)
        if routes is None or (
            observer is not None and (observer.handlers or observer._handler.filters)
        ):  # the dispatcher's own handlers or root filters come first: aiogram's way
            return await super()._propagate_event(observer, update_type, event, **kwargs)
        assert isinstance(event, Message)  # every gated update is one
        for router, gates in routes:
            if gates and not all(gate.admits(event) for gate in gates):
                continue
            response = await router.propagate_event(update_type, event, **kwargs)
            if response is not UNHANDLED:
                return response
        return UNHANDLED

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing a drain could wait for
            return await super().feed_update(bot, update, **kwargs)
        self._handling.add(task)
        try:
            return await super().feed_update(bot, update, **kwargs)
        finally:
            self._handling.discard(task)

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Waits for the updates being handled; those still running after ``timeout`` are
        cancelled (and awaited)."""
        cut_off = await finish_or_cancel(self._handling - {asyncio.current_task()}, timeout)
        if cut_off:
            log.warning(
                "stop: %d update(s) still being handled after %.0f s were cut off", cut_off, timeout
            )


def _gates_of(router: Router, update: str) -> tuple[Gate, ...]:
    observer = router.observers[update]
    if len(observer.outer_middleware):
        return ()
    filters = observer._handler.filters or ()  # the root filters (aiogram keeps no other list)
    return tuple(f.callback for f in filters if isinstance(f.callback, Gate))


def create_bot(settings: Settings, sender: Sender) -> Bot:
    """A Bot whose every call goes through ``sender`` (pass the same one to BotServices)."""
    telegram = settings.telegram
    session = BotSession(api=TelegramAPIServer.from_base(telegram.api_base))
    session.middleware(sender)
    return Bot(telegram.bot_token.get_secret_value(), session=session)


def build_dispatcher(services: BotServices, *, i18n: I18n | None = None) -> SattvaDispatcher:
    i18n = i18n or make_i18n(services.settings.i18n.default_locale)
    # no handler keeps a conversation state: aiogram's FSM middleware (a storage lookup and
    # a context per update) would be paid by every update for nothing
    dp = SattvaDispatcher(
        services=services, permissions=Permissions(services), i18n=i18n, disable_fsm=True
    )
    dp.include_routers(
        basic.build_router(),
        basic.build_upgrade_router(),
        elsewhere.build_router(),
        playback.build_router(),
        queue.build_router(),
        controls.build_router(),
        settings.build_router(),
        auth.build_router(),
        channels.build_router(),
        owner.build_router(),
        rtmp.build_router(),
        playlists.build_router(),
        errors.build_router(),
        controls.build_expired_router(),
    )
    for router in dp.sub_routers:  # an update skips the routers it names no command of
        gate_by_commands(router)
    ChatLanguageMiddleware(i18n, services.chat_settings).setup(dp)
    known = KnownChats(services.chat_settings)
    timer = CommandTimer(commands_of(dp)[0])
    for observer in (dp.message, dp.channel_post):
        observer.outer_middleware(known)
        observer.outer_middleware(timer)
    # which stream a command drives (a linked group's is its channel's), before the rights
    targets = TargetMiddleware()
    dp.message.middleware(targets)
    dp.callback_query.middleware(targets)
    dp.channel_post.middleware(targets)
    # who may run a handler is declared where it is registered (flags), checked here once;
    # a channel's posts come from its administrators (bot.telegram.channel_posts)
    dp.message.middleware(RightsMiddleware())
    dp.callback_query.middleware(RightsMiddleware())
    dp.channel_post.middleware(ChannelPosts())
    dp.seal()
    dp.startup.register(_on_startup)
    dp.shutdown.register(_on_shutdown)
    return dp


async def _on_startup(bot: Bot, dispatcher: Dispatcher, **_: Any) -> None:
    services: BotServices = dispatcher["services"]
    i18n: I18n = dispatcher["i18n"]
    services.sender.on_forbidden(services.players.stop)
    cards = NowPlayingCards(bot, services, i18n, services.sender)
    announcer = Announcer(bot, services, cards, i18n)
    dispatcher["nowplaying"] = cards
    dispatcher["announcer"] = announcer
    await announcer.start()
    try:
        await commands.set_commands(bot, i18n)
    except TelegramAPIError as exc:
        # The menu is a convenience: a bot without it still answers every command.
        log.warning("setMyCommands failed: %s", exc)


async def _on_shutdown(dispatcher: SattvaDispatcher, **_: Any) -> None:
    await dispatcher.drain()  # before anything a handler may still use
    announcer: Announcer | None = dispatcher.workflow_data.pop("announcer", None)
    if announcer is not None:
        await announcer.close()
    await dispatcher["services"].sender.drain()


async def set_commands(bot: Bot, i18n: I18n | None = None) -> None:
    """setMyCommands for the default language and for each supported one."""
    await commands.set_commands(bot, i18n or make_i18n("en"))
