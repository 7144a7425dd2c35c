"""One process: storage, engine, players, the aiogram bot and the web sidecar, wired here.

Start order follows what depends on what: the schema and the queue store first (they are
the truth), then the engine and the players, then polling (commands need the players), then
recovery of the chats that were playing, then the web sidecar.  Stopping runs backwards and
keeps the store open until every player has written its last position.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher

from bot.config import Settings
from bot.domain.events import EventBus
from bot.domain.manager import PlayerManager
from bot.engines.base import VoiceEngine
from bot.engines.factory import build_engine, player_engine
from bot.engines.pool import AssistantPool
from bot.ffmpeg import set_http_proxy
from bot.logs import setup_logging
from bot.metrics import POLLING
from bot.sources.cache import DownloadCache, store_references
from bot.sources.egress import EgressProxy
from bot.sources.resolver import SourceResolver
from bot.storage.assignments import AssignmentRepo
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.factory import open_queue_store
from bot.storage.queue import QueueStore
from bot.storage.repos import ChatSettingsRepo, HistoryRepo
from bot.telegram.dispatcher import build_dispatcher, create_bot
from bot.telegram.sender import Sender
from bot.telegram.services import build_services
from bot.telegram.webhook import WebhookIntake, open_dedupe
from web.health import standard_probes
from web.server import WebServer, start_sidecar
from web.services import WebServices

log = logging.getLogger("sattva")

#: the open-descriptor soft limit is raised to the hard limit, but not beyond this
OPEN_FILES_CAP = 65536


@dataclass
class Application:
    settings: Settings
    started_at: float = field(default_factory=time.time)
    bus: EventBus = field(default_factory=EventBus)
    polling: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        s = self.settings
        self.db = create_engine(s.storage.database_url)
        await migrate(self.db)
        self.sessions = session_factory(self.db)
        self.store: QueueStore = await open_queue_store(s.storage, self.db)
        # the stored queues say which downloads are still needed: the rest goes now
        self.cache = DownloadCache(
            s.sources.cache_dir,
            max_bytes=s.sources.cache_max_mb * 1024 * 1024,
            references=store_references(self.store),
        )
        await self.cache.sweep(at_start=True)
        self.sender = Sender()
        self.bot: Bot = create_bot(s, self.sender)
        # before anything can start ffmpeg, ffprobe or yt-dlp: all their fetches go through it
        self.egress = EgressProxy(allow_private=s.sources.allow_private_networks)
        await self.egress.start()
        set_http_proxy(self.egress.url)
        self.node_id = s.node_id()
        self.assignments = AssignmentRepo(self.sessions)
        # engine.kind = "rtmp" needs no assistant account: no pool at all
        self.pool: AssistantPool | None = None
        if s.engine.kind != "rtmp":
            self.pool = build_engine(
                s,
                invite_link=self._invite_link,
                assignments=self.assignments,
                notice=self._assistant_notice,
                unban=self._unban_assistant,
            )
        self.resolver = SourceResolver.from_settings(s, self.bot, self.cache)
        self.cache.watch(self.bus)
        # one instance for the player, the bot and the web panel: its cache is only
        # invalidated by writes that go through it
        self.chat_settings = ChatSettingsRepo(
            self.sessions, cache_seconds=s.storage.settings_cache_seconds
        )
        # what the player talks to: the pool, or the RTMP engine for chats that chose it
        self.engine: VoiceEngine = player_engine(
            s,
            self.pool,
            rtmp_targets=self.chat_settings.rtmp_target,
            engine_choice=self.chat_settings.engine_choice,
        )
        self.players = PlayerManager(
            store=self.store,
            engine=self.engine,
            bus=self.bus,
            history=HistoryRepo(self.sessions),
            settings=self.chat_settings,
            playlists=self.resolver,
            config=s.player,
            per_chat_labels=s.metrics.per_chat_labels,
            placement=self._placement,
        )
        await self.engine.start()
        await self.players.start()
        services = build_services(
            s,
            players=self.players,
            resolver=self.resolver,
            sessions=self.sessions,
            bus=self.bus,
            sender=self.sender,
            chat_settings=self.chat_settings,
            started_at=self.started_at,
        )
        self.dp: Dispatcher = build_dispatcher(services)
        self.dp.startup.register(self._on_polling)
        self.webhook: WebhookIntake | None = None
        if s.telegram.mode == "webhook":
            self.webhook = WebhookIntake(
                self.dp, self.bot, open_dedupe(s), s.telegram.webhook_secret.get_secret_value()
            )
            await self.dp.emit_startup(bot=self.bot, **self._workflow())
        else:
            self._tasks.append(asyncio.create_task(self._poll(), name="bot-polling"))
        restored = await self.players.recover()
        log.info("started", extra={"restored_chats": restored, "engine": s.engine.kind})
        self.web: WebServer | None = await start_sidecar(
            WebServices(
                settings=s,
                sessionmaker=self.sessions,
                bus=self.bus,
                players=self.players,
                store=self.store,
                forget_chat_settings=self.chat_settings.forget,
                telegram_webhook=self.webhook,
                health=standard_probes(
                    bot_polling=self._polling_ok,
                    store=self.store,
                    sessionmaker=self.sessions,
                    engine=self.engine,
                ),
            )
        )
        if self.webhook is not None:
            # after the sidecar listens: Telegram starts posting at once
            await self.bot.set_webhook(
                s.telegram.webhook_url,
                secret_token=s.telegram.webhook_secret.get_secret_value(),
                allowed_updates=self.dp.resolve_used_update_types(),
            )

    def _workflow(self) -> dict[str, Any]:
        """What aiogram's polling hands its startup/shutdown handlers, for webhook mode."""
        return {"dispatcher": self.dp, "bots": (self.bot,), **self.dp.workflow_data}

    async def stop(self) -> None:
        if getattr(self, "web", None) is not None:
            assert self.web is not None
            await self.web.stop()
        if getattr(self, "webhook", None) is not None:
            assert self.webhook is not None
            self.polling = False
            POLLING.set(0)
            await self.dp.emit_shutdown(bot=self.bot, **self._workflow())
            await self.webhook.close()
        elif hasattr(self, "dp"):
            with contextlib.suppress(RuntimeError):  # polling had not started yet
                await self.dp.stop_polling()
        for task in self._tasks:
            # a polling task that does not end in time must not keep the rest from closing
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=15)
        if hasattr(self, "players"):
            await self.players.close()
        if hasattr(self, "cache"):
            await self.cache.close()
        if hasattr(self, "engine"):
            await self.engine.close()
        if hasattr(self, "egress"):
            set_http_proxy(None)
            await self.egress.close()
        if hasattr(self, "bot"):
            await self.bot.session.close()
        if hasattr(self, "store"):
            await self.store.close()
        if hasattr(self, "db"):
            await self.db.dispose()

    # -- pieces handed to the parts ------------------------------------------------------

    async def _invite_link(self, chat_id: int) -> str:
        link = await self.bot.create_chat_invite_link(chat_id, name="sattva assistant")
        return link.invite_link

    async def _unban_assistant(self, chat_id: int, user_id: int) -> bool:
        return await self.bot.unban_chat_member(chat_id, user_id, only_if_banned=True)

    def _assistant_notice(self, chat_id: int, code: str, data: dict[str, Any]) -> None:
        """An assistant-side failure moved a chat: the chat is told in one line (announcer)
        and the monitoring sees it."""
        self.bus.publish("system_alert", chat_id, {"kind": "assistant_moved", "code": code, **data})

    def _placement(self, chat_id: int) -> dict[str, Any]:
        assistant = None if self.pool is None else self.pool.assistant_of(chat_id)
        return {"assistant": assistant, "node": self.node_id}

    async def _on_polling(self) -> None:
        self.polling = True
        # webhook mode starts the dispatcher too, but never calls getUpdates: the gauge says
        # whether getUpdates answers are expected (the "polling stalled" alert reads it)
        POLLING.set(1 if self.webhook is None else 0)

    async def _polling_ok(self) -> bool:
        return self.polling and all(not t.done() for t in self._tasks)

    async def _poll(self) -> None:
        try:
            await self.dp.start_polling(self.bot, handle_signals=False, close_bot_session=False)
        finally:
            self.polling = False
            POLLING.set(0)


def _secrets(settings: Settings) -> list[str]:
    return [
        settings.telegram.bot_token.get_secret_value(),
        settings.telegram.webhook_secret.get_secret_value(),
        *(
            secret.get_secret_value()
            for a in settings.assistant_pool()
            for secret in (a.api_hash, a.session_string)
        ),
        settings.web.secret_key.get_secret_value(),
        settings.web.monitoring_token.get_secret_value(),
    ]


def raise_open_files_limit(cap: int = OPEN_FILES_CAP) -> int:
    """Raises the soft limit on open descriptors to the hard limit (at most ``cap``);
    returns the soft limit now in force.

    The common default soft limit (1024, sometimes 256) is shared by everything the process
    holds: web clients, Bot API connections, downloads, ffmpeg pipes, Redis and database
    sockets.  With it, a few hundred idle web connections made /play fail with "Too many
    open files"; the hard limit is what the system actually allows us.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("open files limit stays %d: %s", soft, exc)
            return soft
        return target
    return soft


async def run(settings: Settings) -> int:
    """Runs until SIGTERM/SIGINT; returns the exit code."""
    setup_logging(settings.logging.level, settings.logging.format, _secrets(settings))
    log.info("open files limit", extra={"nofile": raise_open_files_limit()})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = Application(settings)
    try:
        await app.start()
    except Exception as exc:
        log.exception("start failed")
        await app.stop()
        # the log line above has the details; this is the one line an operator reads
        print(f"sattva: cannot start: {exc.__class__.__name__}", file=sys.stderr)
        return 1
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *app._tasks], return_when=asyncio.FIRST_COMPLETED)
    code = 0 if stop.is_set() else 1
    log.info("stopping", extra={"reason": "signal" if stop.is_set() else "polling ended"})
    waiter.cancel()
    await app.stop()
    return code
