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

from bot.cluster.polling import LeasedPoller, leased_poller
from bot.config import Settings
from bot.domain.events import EventBus
from bot.logs import setup_logging
from bot.metrics import POLLING
from bot.telegram.claims import open_claims
from bot.telegram.webhook import WebhookIntake
from bot.wiring import Wired, build
from web.health import standard_probes
from web.server import start_sidecar
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
    #: the webhook intake in webhook mode (None: long polling)
    webhook: WebhookIntake | None = None
    #: cluster polling: polls while this node holds the poller lease
    poller: LeasedPoller | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def start(self) -> None:
        """Everything up; on a failure part-way, ``stop`` closes what was opened."""
        s = self.settings
        parts = self.parts = await self._stack.enter_async_context(
            build(s, bus=self.bus, started_at=self.started_at)
        )
        parts.dp.startup.register(self._on_polling)
        webhook: WebhookIntake | None = None
        if s.telegram.mode == "webhook":
            claims = open_claims(s.storage.redis_url, s.telegram.bot_token.get_secret_value())
            webhook = self.webhook = WebhookIntake(
                parts.dp, parts.bot, claims, s.telegram.webhook_secret.get_secret_value()
            )
            await parts.dp.emit_startup(bot=parts.bot, **self._workflow(parts))
            self._stack.push_async_callback(self._stop_webhook, parts, webhook)
        elif s.cluster.enabled:
            # every node handles its own chats (the announcer, forwarded updates): the
            # dispatcher starts here; getUpdates runs only on the lease's holder
            await parts.dp.emit_startup(bot=parts.bot, **self._workflow(parts))
            poller = self.poller = await self._stack.enter_async_context(
                leased_poller(s, parts.bot, parts.dp, on_polling=self._leased_polling)
            )
            self._tasks.append(asyncio.create_task(poller.run(), name="bot-polling"))
            self._stack.push_async_callback(self._stop_leased_polling, parts, poller)
        else:
            self._tasks.append(asyncio.create_task(self._poll(parts), name="bot-polling"))
            self._stack.push_async_callback(self._stop_polling, parts)
        # a cluster node resumes the chats of each account as it takes the account's lease
        restored = await parts.players.recover() if parts.cluster is None else 0
        log.info("started", extra={"restored_chats": restored, "engine": s.engine.kind})
        web = await start_sidecar(
            WebServices(
                settings=s,
                sessionmaker=parts.sessions,
                bus=self.bus,
                players=parts.commands or parts.players,
                cluster_status=None if parts.cluster is None else parts.cluster.status,
                forget_chat_settings=parts.chat_settings.forget,
                forget_channels=parts.channels.forget,
                telegram_webhook=webhook,
                cookie_files=parts.resolver.cookies.report,
                health=standard_probes(
                    bot_polling=self._polling_ok,
                    store=parts.store,
                    sessionmaker=parts.sessions,
                    engine=parts.engine,
                ),
            )
        )
        if web is not None:
            self._stack.push_async_callback(web.stop)
        if webhook is not None:
            # after the sidecar listens: Telegram starts posting at once
            await parts.bot.set_webhook(
                s.telegram.webhook_url,
                secret_token=s.telegram.webhook_secret.get_secret_value(),
                allowed_updates=parts.dp.resolve_used_update_types(),
            )

    async def stop(self) -> None:
        """Closes in the reverse order of ``start``: the web, polling (or the webhook
        intake), the players (each writes its last position), the engine, the egress proxy,
        the bot, the store."""
        await self._stack.aclose()

    # -- pieces handed to the parts ------------------------------------------------------

    @staticmethod
    def _workflow(parts: Wired) -> dict[str, Any]:
        """What aiogram's polling hands its startup/shutdown handlers, for webhook mode."""
        return {"dispatcher": parts.dp, "bots": (parts.bot,), **parts.dp.workflow_data}

    async def _stop_webhook(self, parts: Wired, webhook: WebhookIntake) -> None:
        self.polling = False
        POLLING.set(0)
        await parts.dp.emit_shutdown(bot=parts.bot, **self._workflow(parts))
        await webhook.close()

    async def _stop_leased_polling(self, parts: Wired, poller: LeasedPoller) -> None:
        poller.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=15)
        await poller.drain()
        self.polling = False
        await parts.dp.emit_shutdown(bot=parts.bot, **self._workflow(parts))

    def _leased_polling(self, polling: bool) -> None:
        # the node is healthy while it waits for the lease (self.polling: the dispatcher
        # runs); the gauge says which node asks Telegram (the "polling stalled" alert)
        POLLING.set(1 if polling else 0)

    async def _stop_polling(self, parts: Wired) -> None:
        with contextlib.suppress(RuntimeError):  # polling had not started yet
            await parts.dp.stop_polling()
        for task in self._tasks:
            # a polling task that does not end in time must not keep the rest from closing
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=15)

    async def _on_polling(self) -> None:
        self.polling = True
        # webhook mode and cluster nodes start the dispatcher too, but only the polling one
        # calls getUpdates: the gauge says whether getUpdates answers are expected (the
        # "polling stalled" alert reads it)
        if self.webhook is None and not self.settings.cluster.enabled:
            POLLING.set(1)

    async def _polling_ok(self) -> bool:
        return self.polling and all(not t.done() for t in self._tasks)

    async def _poll(self, parts: Wired) -> None:
        try:
            await parts.dp.start_polling(parts.bot, handle_signals=False, close_bot_session=False)
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
