"""Long polling in a cluster: exactly one node calls ``getUpdates`` at a time.

Telegram serves ``getUpdates`` to one caller at a time (two at once get 409 Conflict) and
confirms updates by offset, so the nodes elect one poller with a Redis lease
(``bot.cluster.leases``, named ``telegram:poller``).  The holder polls; every other node
tries for the lease every third of its time to live, so when the poller dies (kill -9: its
lease runs out after ``ttl``) another takes over within ``ttl`` and a third.  Each node
keeps serving its own chats meanwhile: only the intake moves.

**Offsets and claims.**  aiogram's own polling confirms a batch (its next ``getUpdates``
carries offset = last + 1) as soon as it has started one task per update, before any
handler ran, so a poller killed then loses the batch.  Here each update is claimed first
(``bot.telegram.claims``, in Redis) and the offset moves past it only once the claim is
recorded: a poller that dies leaves every update it had not claimed at Telegram for the
next poller, which skips those already claimed.  An update is lost only when the node that
claimed it dies while handling it (commands are at most once, see claims).  When Redis does
not answer, the offset stays where it is and the batch is fetched again later.

**Stopping in time.**  The holder renews every third of ``ttl``.  When a renewal says the
lease is gone, or none succeeded for ``ttl`` less a third (a paused process, Redis
unreachable), it stops asking Telegram at once, cancelling the ``getUpdates`` in flight,
before another node can hold the lease.  Updates already fetched are still claimed (never
cancelled half-way, so no update is claimed without being handled).  Two pollers that
overlap anyway (a process paused inside a ``getUpdates`` past its lease) are harmless: the
claims make each update run once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update
from redis.exceptions import RedisError

from bot.cluster.leases import POLLER_LEASE, Lease, Leases, connect
from bot.config import Settings
from bot.metrics import POLLER_TAKEOVERS, UPDATES_DUPLICATE
from bot.tasks import DRAIN_SECONDS, finish_or_cancel
from bot.telegram.claims import ClaimUnavailable, RedisClaims, UpdateClaims, bot_id_of

log = logging.getLogger(__name__)

#: the lease's name (in ``bot.cluster.leases``, where the dashboard's view finds it too)
LEASE = POLLER_LEASE
#: getUpdates' long-poll wait, in seconds (aiogram's default)
POLL_TIMEOUT = 10
#: the pause after a failed getUpdates, doubled up to the maximum while it keeps failing
RETRY_PAUSE = (0.5, 8.0)


class LeasedPoller:
    """Polls Telegram for this node while it holds the poller lease; see the module doc.

    ``on_polling(True/False)`` is called when this node starts and stops polling (the
    ``sattva_polling`` gauge, health)."""

    def __init__(
        self,
        *,
        bot: Bot,
        dp: Dispatcher,
        leases: Leases,
        claims: UpdateClaims,
        ttl: float,
        on_polling: Callable[[bool], None],
        poll_timeout: int = POLL_TIMEOUT,
    ) -> None:
        self._bot = bot
        self._dp = dp
        self._leases = leases
        self._claims = claims
        self._ttl = ttl
        self._on_polling = on_polling
        self._poll_timeout = poll_timeout
        self._stopping = asyncio.Event()
        self._fetch: asyncio.Task[list[Update]] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        #: set when the loop must stop at its next fetch (lease lost, or stopping)
        self._halt = False
        self.polling = False

    async def run(self) -> None:
        """Waits for the lease, polls while it is held, and again, until ``stop``."""
        while not self._stopping.is_set():
            lease = await self._acquire()
            if lease is None:
                return
            self._set_polling(True)
            POLLER_TAKEOVERS.inc()
            log.info("polling: this node polls Telegram now (lease token %s)", lease.token)
            try:
                await self._hold(lease)
            finally:
                self._set_polling(False)
            if not self._stopping.is_set():
                log.warning("polling: the poller lease was lost; this node stopped polling")

    def stop(self) -> None:
        """Makes ``run`` stop polling, give the lease back (the next poller need not wait
        for it to expire) and return; then ``drain``."""
        self._stopping.set()
        if self._fetch is not None:
            self._fetch.cancel()

    async def drain(self) -> None:
        """Lets the handlers in flight finish (briefly); stragglers are cancelled."""
        await finish_or_cancel(self._handlers, DRAIN_SECONDS)

    def _set_polling(self, polling: bool) -> None:
        self.polling = polling
        self._on_polling(polling)

    async def _acquire(self) -> Lease | None:
        """The lease, tried every third of ``ttl``; None when stopping."""
        failing = False
        while not self._stopping.is_set():
            try:
                lease = await self._leases.acquire(LEASE)
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("polling: the poller lease cannot be asked for: %s", exc)
                failing, lease = True, None
            if lease is not None:
                return lease
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._ttl / 3)
        return None

    async def _hold(self, lease: Lease) -> None:
        """Polls while the lease is renewed; returns when it is lost or on ``stop``."""
        valid_until = time.monotonic() + self._ttl  # acquire (re)set the expiry just now
        margin = self._ttl / 3
        poll = asyncio.create_task(self._poll(), name="poller")
        try:
            while not poll.done():
                wait = min(self._ttl / 3, max(0.0, valid_until - margin - time.monotonic()))
                await asyncio.wait([poll], timeout=wait)
                if poll.done():
                    break
                begun = time.monotonic()
                try:
                    async with asyncio.timeout(max(0.05, valid_until - margin - begun)):
                        held = await self._leases.renew(lease)
                except (RedisError, OSError, TimeoutError) as exc:
                    log.warning("polling: the poller lease was not renewed: %s", exc)
                    held = None
                if held:
                    valid_until = begun + self._ttl
                elif held is False or time.monotonic() >= valid_until - margin:
                    return  # gone, or it may be gone before the next try: stop asking now
        except asyncio.CancelledError:
            poll.cancel()  # the process is going away: no batch is finished
            raise
        finally:
            await self._end(poll)
            if self._stopping.is_set():
                with contextlib.suppress(RedisError, OSError):
                    await self._leases.release(lease)  # the next poller need not wait

    async def _end(self, poll: asyncio.Task[None]) -> None:
        """Stops the poll loop at its next fetch; a batch being claimed is finished first."""
        self._halt = True
        if self._fetch is not None:
            self._fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll

    async def _poll(self) -> None:
        self._halt = False
        offset: int | None = None
        pause = RETRY_PAUSE[0]
        method = GetUpdates(
            timeout=self._poll_timeout, allowed_updates=self._dp.resolve_used_update_types()
        )
        request_timeout = int((self._bot.session.timeout or 60) + self._poll_timeout)
        while not self._halt and not self._stopping.is_set():
            method.offset = offset
            self._fetch = asyncio.ensure_future(self._bot(method, request_timeout=request_timeout))
            try:
                updates = await self._fetch
            except asyncio.CancelledError:
                if self._halt or self._stopping.is_set():
                    return
                raise
            except Exception as exc:  # network, 5xx, 409 Conflict: try again, slower
                log.warning("polling: getUpdates failed (%s: %s)", exc.__class__.__name__, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_PAUSE[1])
                continue
            finally:
                self._fetch = None
            pause = RETRY_PAUSE[0]
            offset = await self._take(updates, offset)

    async def _take(self, updates: list[Update], offset: int | None) -> int | None:
        """Claims and starts each update in order; the offset past the last one claimed."""
        for update in updates:
            try:
                first = await self._claims.first(update.update_id)
            except ClaimUnavailable as exc:
                log.warning("polling: update %s left at Telegram: %s", update.update_id, exc)
                await asyncio.sleep(1.0)
                return offset  # fetched again (from this one) by the next getUpdates
            offset = update.update_id + 1
            if not first:
                UPDATES_DUPLICATE.labels(intake="polling").inc()
                log.info("update %s already claimed: ignored", update.update_id)
                continue
            task = asyncio.create_task(self._handle(update), name=f"update-{update.update_id}")
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        return offset

    async def _handle(self, update: Update) -> None:
        """What aiogram's polling does with one update: dispatch, then send the method a
        handler returned as its answer."""
        try:
            answer: Any = await self._dp.feed_update(self._bot, update)
            if isinstance(answer, TelegramMethod):
                await self._dp.silent_call_request(self._bot, answer)
        except Exception:
            log.exception("update %s failed", update.update_id)


@contextlib.asynccontextmanager
async def leased_poller(
    settings: Settings, bot: Bot, dp: Dispatcher, *, on_polling: Callable[[bool], None]
) -> AsyncIterator[LeasedPoller]:
    """The poller of a cluster node, on its own Redis connections (closed on exit)."""
    redis = connect(settings.storage.redis_url)
    try:
        token = settings.telegram.bot_token.get_secret_value()
        yield LeasedPoller(
            bot=bot,
            dp=dp,
            leases=Leases(redis, settings.node_id(), ttl=settings.cluster.lease_seconds),
            claims=RedisClaims(redis, bot_id=bot_id_of(token)),
            ttl=settings.cluster.lease_seconds,
            on_polling=on_polling,
        )
    finally:
        await redis.aclose()
