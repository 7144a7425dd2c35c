"""Updates to the node that owns their chat, over one Redis Stream per assistant account.

A chat belongs to the node holding its account's lease.  Any node may receive any update
(webhook behind a load balancer, or the one polling node); the outermost update middleware
decides:

- chat-less updates, private chats and the commands that touch no chat's playback
  (``ANYWHERE``: owner commands, help) run where they arrive;
- a group chat's update runs here when this node holds the chat's account;
  which account a chat is on is read from the database once and then kept for
  ``ASSIGNMENT_SECONDS`` (that read was as costly as answering the command itself).  A
  stale entry still finds the right node: a chat changes accounts only when the node
  holding its account moves it to another account it holds (``LeasedPool``), and that
  node's player reads the assignment itself;
- else it is added to the account's stream ``sattva:cluster:updates:<account>`` and the
  holder handles it and answers in the chat.  A chat without an account gets the
  least-loaded account held by a live node first (the database's first writer wins).

Each holder reads its accounts' streams in the consumer group ``owners``; an entry is
acknowledged (and deleted) once handled.  What a dead or stalled holder left unacknowledged
is claimed by the next holder (``XAUTOCLAIM``) once it has been idle ``CLAIM_IDLE_SECONDS``
and handled there, so a forwarded command is delivered at least once.  The entry is
acknowledged just before the first message its handler posts or edits in the chat
(``bot.telegram.sender.BEFORE_ANSWER``), not after the handler returns: once the chat has
seen an answer the command is never run again, even if its node dies a moment later (a
crash between the answer and a later acknowledgement ran it a second time).  A node that
dies after a command's effect and before its first word has it run twice; one that dies
after its first word and before its effect ("checking the file", then a crash) leaves it
undone, as a command handled where it arrives would be.  A node that
gives an account back, on purpose or because its lease ran out, lets the handlers in
flight finish first (``DRAIN_SECONDS``, shorter than the claim idle time), so a command it
is still answering is not run again by the next holder; and a node never starts an entry
it is already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import Bot, Dispatcher
from aiogram.types import TelegramObject, Update
from redis.exceptions import RedisError, ResponseError

from bot.cluster.leases import PREFIX, Leases
from bot.expiring import ExpiringCache
from bot.metrics import CLUSTER_FORWARDED
from bot.storage.redis_wire import RedisWire
from bot.tasks import DRAIN_SECONDS, finish_or_cancel
from bot.telegram.sender import BEFORE_ANSWER

log = logging.getLogger(__name__)

STREAM = PREFIX + "updates:"
GROUP = "owners"
#: an update forwarded this often (ownership kept moving under it) is handled where it is
MAX_HOPS = 3
#: commands that run on whichever node receives them (no chat playback behind them)
ANYWHERE = frozenset({"stats", "broadcast", "help", "start"})
#: updates of one account handled at once by its holder
CONCURRENCY = 32
#: how long an entry must have waited since its delivery before another consumer takes it
#: over: longer than a node giving an account back lets its handlers finish, so an entry
#: the previous holder is still answering (perhaps "being handed to another process") is
#: never run a second time here
CLAIM_IDLE_SECONDS = DRAIN_SECONDS + 2.0
#: how often a holder looks for entries left over (they become claimable only once idle)
CLAIM_EVERY_SECONDS = 1.0
#: how long a chat's account, as read from the database, is trusted here
ASSIGNMENT_SECONDS = 5.0

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Ownership(Protocol):
    """What the router asks of its node (``bot.cluster.node.ClusterNode``)."""

    node: str
    names: list[str]

    def assistant_of(self, chat_id: int) -> str | None: ...

    def holds(self, name: str) -> bool: ...

    def adopt(self, chat_id: int, name: str) -> None: ...


class AssignmentStore(Protocol):
    async def get(self, chat_id: int) -> str | None: ...

    async def claim(self, chat_id: int, assistant: str) -> str: ...

    async def counts(self) -> dict[str, int]: ...


def chat_of(update: Update) -> tuple[int, str] | None:
    """(chat id, chat type) of an update about a chat, else None."""
    if update.message is not None:
        chat = update.message.chat
    elif update.callback_query is not None and update.callback_query.message is not None:
        chat = update.callback_query.message.chat
    elif update.channel_post is not None:
        chat = update.channel_post.chat
    elif update.my_chat_member is not None:
        chat = update.my_chat_member.chat
    elif update.chat_member is not None:
        chat = update.chat_member.chat
    else:
        return None
    return chat.id, chat.type


def command_of(update: Update) -> str | None:
    """The command name of a message ("/play@bot x" -> "play"), else None."""
    message = update.message or update.channel_post
    text = message.text if message is not None else None
    if not text or not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else None


class Router:
    """The middleware and the stream consumers of one node."""

    def __init__(
        self,
        wire: RedisWire,
        node: Ownership,
        assignments: AssignmentStore,
        *,
        dp: Dispatcher | None,
        bot: Bot,
        drives: Callable[[int], Awaitable[int | None]] | None = None,
    ) -> None:
        """``drives``: the chat whose player a group's commands drive instead of its own
        (a group linked to a channel with /channelplay), so they go to that chat's owner.

        ``wire``: the store's own Redis client (``bot.storage.redis_wire``), not redis-py:
        a forwarded command costs two writes and a read of a stream entry, and redis-py's
        command path around each cost more CPU than the rest of the forwarding together
        (benchmarks/README.md, cluster_scale).  The caller closes it."""
        self._wire = wire
        self._node = node
        self._assignments = assignments
        self._dp = dp
        self._bot = bot
        self._drives = drives
        self._consumers: dict[str, asyncio.Task[None]] = {}
        self._inflight: dict[str, set[asyncio.Task[None]]] = {}
        #: (stream, entry id) being handled here: ids are per stream, and two accounts'
        #: streams hand out the same id to entries added in the same millisecond
        self._running: set[tuple[str, str]] = set()
        self.claim_idle = CLAIM_IDLE_SECONDS
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._placing = asyncio.Lock()
        self._assigned: ExpiringCache[int, str] = ExpiringCache(ASSIGNMENT_SECONDS)
        self.forwarded = {"out": 0, "in": 0}

    def attach(self, dp: Dispatcher) -> None:
        """Becomes the dispatcher's outermost update middleware (and feeds it what the
        streams bring)."""
        self._dp = dp
        dp.update.outer_middleware(self.middleware)

    # -- ownership -------------------------------------------------------------------------

    async def assistant_for(self, chat_id: int) -> str:
        """The chat's account; a new chat gets the least-loaded one held by a live node."""
        name = self._node.assistant_of(chat_id) or self._assigned.get(chat_id)
        if name is not None and name in self._node.names:
            return name
        name = await self._stored(chat_id)
        if name is not None:
            return name
        async with self._placing:
            # one placement at a time here, so each reads the counts the last one changed
            name = await self._stored(chat_id)
            if name is not None:
                return name
            held = await self._wire.call("MGET", *(Leases.key(n) for n in self._node.names))
            live = [n for n, holder in zip(self._node.names, held, strict=True) if holder]
            candidates = live or list(self._node.names)
            counts = await self._assignments.counts()
            low = min(counts.get(n, 0) for n in candidates)
            pick = random.choice([n for n in candidates if counts.get(n, 0) == low])
            generation = self._assigned.generation
            name = await self._assignments.claim(chat_id, pick)
            self._assigned.store(chat_id, name, read_at_generation=generation)
            return name

    async def _stored(self, chat_id: int) -> str | None:
        """The chat's account as the database has it (kept a while), if one configured."""
        generation = self._assigned.generation
        name = await self._assignments.get(chat_id)
        if name is None or name not in self._node.names:
            return None
        self._assigned.store(chat_id, name, read_at_generation=generation)
        return name

    async def middleware(
        self, handler: Handler, update: TelegramObject, data: dict[str, Any]
    ) -> Any:
        """The outermost update middleware: handle here, or forward to the owner."""
        if not isinstance(update, Update):
            return await handler(update, data)
        where = chat_of(update)
        if where is None or where[1] == "private" or command_of(update) in ANYWHERE:
            return await handler(update, data)
        chat_id = where[0]
        hops = int(data.get("cluster_hops", 0))
        try:
            if self._drives is not None:
                chat_id = await self._drives(chat_id) or chat_id
            name = await self.assistant_for(chat_id)
        except Exception:
            log.exception("chat %s: owner unknown; handled here", chat_id)
            return await handler(update, data)
        if self._node.holds(name) or hops >= MAX_HOPS:
            self._node.adopt(chat_id, name)
            return await handler(update, data)
        try:
            await self.forward(name, update, hops)
        except (RedisError, OSError):
            log.warning("chat %s: update not forwarded to %s's node; handled here", chat_id, name)
            return await handler(update, data)
        return None

    async def forward(self, name: str, update: Update, hops: int = 0) -> None:
        body = json.dumps(update.model_dump(mode="json", exclude_none=True))
        await self._wire.call("XADD", STREAM + name, "*", "update", body, "hops", hops)
        self.forwarded["out"] += 1
        CLUSTER_FORWARDED.labels("out").inc()

    # -- the holder's side -----------------------------------------------------------------

    async def serve(self, name: str) -> None:
        """Starts reading the account's stream (the lease was just taken)."""
        if name not in self._consumers:
            self._inflight[name] = set()
            self._consumers[name] = asyncio.create_task(
                self._consume(name), name=f"cluster-stream-{name}"
            )

    async def unserve(self, name: str) -> None:
        """Stops reading; lets the handlers in flight finish (briefly), unacknowledged
        entries stay for the next holder."""
        task = self._consumers.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await finish_or_cancel(self._inflight.pop(name, set()), DRAIN_SECONDS)

    async def close(self) -> None:
        for name in list(self._consumers):
            await self.unserve(name)

    async def _consume(self, name: str) -> None:
        stream = STREAM + name
        me = asyncio.current_task()
        while True:
            try:
                with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                    await self._wire.call("XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM")
                claimed_at = -CLAIM_EVERY_SECONDS
                loop = asyncio.get_running_loop()
                while True:
                    if me is not None and me.cancelling():
                        # a cancellation that landed as a call completed (the read's
                        # reply was already in) must still end the loop
                        raise asyncio.CancelledError
                    if loop.time() - claimed_at >= CLAIM_EVERY_SECONDS:
                        await self._claim_left_over(name, stream)
                        claimed_at = loop.time()
                    # blocking: the wire gives it a connection of its own
                    replies: Any = await self._wire.call(
                        "XREADGROUP",
                        "GROUP",
                        GROUP,
                        self._node.node,
                        "COUNT",
                        CONCURRENCY,
                        "BLOCK",
                        1000,
                        "STREAMS",
                        stream,
                        ">",
                    )
                    for _stream, entries in replies or []:
                        for entry_id, fields in entries:
                            await self._start(name, stream, entry_id, fields)
            except (RedisError, OSError) as exc:
                log.warning("cluster: stream of %s unreadable (%s); retrying", name, exc)
                await asyncio.sleep(1.0)

    async def _claim_left_over(self, name: str, stream: str) -> None:
        """What the previous holder read and never acknowledged is ours now."""
        start = "0-0"
        while True:
            reply: list[Any] = await self._wire.call(
                "XAUTOCLAIM",
                stream,
                GROUP,
                self._node.node,
                int(self.claim_idle * 1000),
                start,
                "COUNT",
                100,
            )
            start, claimed = reply[0], reply[1]
            for entry_id, fields in claimed:
                if fields:  # a deleted entry's are gone (Redis before 7 listed it)
                    await self._start(name, stream, entry_id, fields)
            if start == "0-0":
                return

    async def _start(self, name: str, stream: str, entry_id: str, fields: list[str]) -> None:
        """``fields``: the entry's as the reply has them, names and values alternating."""
        key = (stream, entry_id)
        if key in self._running:
            return  # claimed back while this node still handles it (idle but not done)
        self._running.add(key)
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(stream, entry_id, fields))
        task.add_done_callback(lambda _t: self._running.discard(key))
        inflight = self._inflight.setdefault(name, set())
        inflight.add(task)
        task.add_done_callback(inflight.discard)

    async def _handle(self, stream: str, entry_id: str, fields: list[str]) -> None:
        acknowledge = _Acknowledge(self._wire, stream, entry_id)
        answering = BEFORE_ANSWER.set(acknowledge)
        try:
            entry = dict(zip(fields[::2], fields[1::2], strict=True))
            raw, hops = entry["update"], int(entry.get("hops", 0))
            update = Update.model_validate(json.loads(raw), context={"bot": self._bot})
            self.forwarded["in"] += 1
            CLUSTER_FORWARDED.labels("in").inc()
            if self._dp is None:
                raise RuntimeError("no dispatcher attached")
            await self._dp.feed_update(self._bot, update, cluster_hops=hops + 1)
        except Exception:
            log.exception("cluster: forwarded update %s not handled", entry_id)
        finally:
            BEFORE_ANSWER.reset(answering)
            self._slots.release()
        await acknowledge()  # a handler that never answered


class _Acknowledge:
    """Acknowledges (and deletes) one stream entry, the first time it is awaited only: the
    handler's first answer and its end both await it."""

    __slots__ = ("_done", "_entry_id", "_stream", "_wire")

    def __init__(self, wire: RedisWire, stream: str, entry_id: str) -> None:
        self._wire, self._stream, self._entry_id = wire, stream, entry_id
        self._done = False

    async def __call__(self) -> None:
        if self._done:
            return
        self._done = True
        # one round trip: this stands before the handler's first answer
        try:
            await self._wire.pipeline(
                [
                    ("XACK", self._stream, GROUP, self._entry_id),
                    ("XDEL", self._stream, self._entry_id),
                ]
            )
        except (RedisError, OSError) as exc:  # the answer goes out anyway
            log.warning("cluster: entry %s not acknowledged: %s", self._entry_id, exc)
