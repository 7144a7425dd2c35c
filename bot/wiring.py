"""One wiring: the parts of a Sattva process, built in one order and closed in the reverse.

``build`` is what ``python -m bot`` runs (database, queue store, egress proxy, voice engine,
players, bot, dispatcher); ``build_core`` is the same without Telegram (the web sidecar's
tests, the benchmarks); both make their players with ``bot.players.make_players``.  Tests
and benchmarks pass their own engine, store, sender or clock and otherwise get exactly what
the app gets, so a new part (a second assistant, a video engine) is added here once.

Every part that needs closing is registered on an ``AsyncExitStack`` as soon as it exists,
so a start that fails half-way closes exactly what was opened.  A ``store`` or ``sender``
passed in stays the caller's to close; an ``engine`` passed in is started and closed here,
since its place in the order matters (after the egress proxy, before the players).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cluster.leases import connect
from bot.cluster.node import ClusterNode, FenceStore
from bot.cluster.players import OwnedPlayers
from bot.cluster.routing import Router
from bot.config import Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.control import Players
from bot.domain.events import AssistantMoved, EventBus
from bot.domain.health import HealthWatch
from bot.domain.manager import PlayerManager
from bot.domain.queue import QueueStore
from bot.engines.base import VoiceEngine
from bot.engines.factory import build_engine, build_member, player_engine
from bot.engines.leased_pool import LeasedPool
from bot.engines.pool import AssistantPool, Notice, PoolMember, Unban
from bot.engines.router import engine_name
from bot.engines.tgcalls import InviteLink
from bot.ffmpeg import set_http_proxy
from bot.players import make_players
from bot.sources.cache import DownloadCache, store_references
from bot.sources.egress import EgressProxy
from bot.sources.resolver import SourceResolver
from bot.sources.tg_messages import ReadsMessages
from bot.storage.assignments import AssignmentRepo
from bot.storage.channels import ChannelRepo
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.factory import open_queue_store, storage_probe
from bot.storage.redis_queue import open_wire
from bot.storage.repos import HistoryRepo
from bot.telegram.dispatcher import build_dispatcher, create_bot
from bot.telegram.sender import Sender
from bot.telegram.services import BotServices, build_services


@contextlib.asynccontextmanager
async def routed_through_egress(
    *, allow_private: bool, tls: ssl.SSLContext | None = None
) -> AsyncIterator[EgressProxy]:
    """The egress proxy, set as every ffmpeg's ``-http_proxy`` (and yt-dlp's proxy) while
    open: started before anything can fetch, taken down after the last fetch.  ``tls``: what
    the proxy trusts for https upstreams (default: the system's CAs)."""
    proxy = EgressProxy(allow_private=allow_private, tls=tls)
    await proxy.start()
    set_http_proxy(proxy.url)
    try:
        yield proxy
    finally:
        set_http_proxy(None)
        await proxy.close()


@dataclass
class Core:
    """The parts without Telegram's bot: storage, engine, players."""

    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: QueueStore
    engine: VoiceEngine
    bus: EventBus
    #: the process's one settings repository: its cache is invalidated only by writes
    #: that go through it, so the player, the bot and the web panel share it
    chat_settings: ChatSettingsRepo
    resolver: SourceResolver
    players: PlayerManager
    #: channels and the groups driving them: one instance, shared with the web panel
    channels: ChannelRepo
    #: cluster mode: this node (its leases start with ``build``; None: one process)
    cluster: ClusterNode | None


@dataclass
class Wired(Core):
    """Everything ``python -m bot`` runs, before polling and the web sidecar start.
    ``commands`` is what the bot and the web call: the players, or in cluster mode the
    players behind the ownership check (``bot.cluster.players``)."""

    sender: Sender
    bot: Bot
    services: BotServices
    dp: Dispatcher
    commands: Players | None = None


@contextlib.asynccontextmanager
async def build_core(
    settings: Settings,
    *,
    engine: VoiceEngine | None = None,
    store: QueueStore | None = None,
    clock: Clock | None = None,
    bus: EventBus | None = None,
    bot: Bot | None = None,
) -> AsyncIterator[Core]:
    """Opens the database (migrated), the queue store, the egress proxy, the engine and the
    players (started; ``recover`` is the caller's, once it is ready for the consequences).

    ``bot``: gives the engine the chat's invite link and the resolver Telegram files."""
    events = EventBus() if bus is None else bus
    async with contextlib.AsyncExitStack() as stack:
        db = create_engine(settings.storage.database_url)
        stack.push_async_callback(db.dispose)
        await migrate(db)
        sessions = session_factory(db)
        # cluster mode: every queue write carries its chat's lease token (the node is made
        # once the players exist; the store asks it only when writing)
        node: list[ClusterNode] = []
        fence = None
        if settings.cluster.enabled:

            def fence(chat_id: int) -> tuple[str, int] | None:
                return node[0].fence(chat_id) if node else None

        if store is None:
            store = await open_queue_store(settings.storage, db, fence=fence)
            stack.push_async_callback(store.close)
        # the stored queues say which downloads are still needed: the rest goes now
        cache = DownloadCache(
            settings.sources.cache_dir,
            max_bytes=settings.sources.cache_max_mb * 1024 * 1024,
            references=store_references(store),
        )
        await cache.sweep(at_start=True)
        stack.push_async_callback(cache.close)
        cache.watch(events)
        # before anything can start ffmpeg, ffprobe or yt-dlp: all their fetches go through it
        await stack.enter_async_context(
            routed_through_egress(allow_private=settings.sources.allow_private_networks)
        )
        chat_settings = ChatSettingsRepo(
            sessions, cache_seconds=settings.storage.settings_cache_seconds
        )
        placement: Callable[[int], dict[str, Any]] | None = None
        assignments = AssignmentRepo(sessions)
        leased: LeasedPool | None = None
        if engine is None:
            # engine.kind = "rtmp" needs no assistant account: no pool at all (unless a
            # cluster leases its assistants: chats that did not choose RTMP need them)
            pool: AssistantPool | None = None
            if settings.cluster.enabled:
                pool = leased = _leased_pool(settings, bot, assignments, events)
            elif settings.engine.kind != "rtmp":
                pool = build_engine(
                    settings,
                    invite_link=_invite_link(bot),
                    assignments=assignments,
                    notice=_assistant_notice(events),
                    unban=_unban(bot),
                )
            # what the players talk to: the pool, or the RTMP engine for chats that chose it
            engine = player_engine(
                settings,
                pool,
                rtmp_targets=chat_settings.rtmp_target,
                engine_choice=chat_settings.engine_choice,
            )
            placement = chat_placement(settings.node_id(), pool, engine)
        if settings.cluster.enabled:
            # closed after the players wrote their last positions (they still need the
            # leases' tokens), before the engine: giving the leases back stops the streams
            stack.push_async_callback(_close_node, node)
        # started and closed here even when passed in: after the egress proxy, before the
        # players, and closed only once the players wrote their last positions
        stack.push_async_callback(engine.close)
        await engine.start()
        readers = engine.message_readers if isinstance(engine, ReadsMessages) else None
        resolver = SourceResolver.from_settings(settings, bot, cache, readers)
        players = make_players(
            settings.player.policy(),
            store=store,
            engine=engine,
            bus=events,
            history=HistoryRepo(sessions),
            settings=chat_settings,
            playlists=resolver,
            clock=clock,
            per_chat_labels=settings.metrics.per_chat_labels,
            placement=placement,
            refresher=resolver,
            media=resolver,
        )
        stack.push_async_callback(players.close)
        await players.start()
        # storage down/up and the engine (the assistant's connection) reach the bus
        watch = HealthWatch(
            bus=events,
            clock=SystemClock() if clock is None else clock,
            probes={"storage": storage_probe(store, sessions), "engine": engine.healthy},
        )
        stack.push_async_callback(watch.close)
        watch.start()
        channels = ChannelRepo(sessions, cache_seconds=settings.storage.settings_cache_seconds)
        if settings.cluster.enabled:
            if leased is None:
                raise ValueError("cluster mode runs its own leased assistant pool")
            node.append(_cluster_node(settings, leased, players, store, assignments, events))
        yield Core(
            settings,
            db,
            sessions,
            store,
            engine,
            events,
            chat_settings,
            resolver,
            players,
            channels,
            node[0] if node else None,
        )


@contextlib.asynccontextmanager
async def build(
    settings: Settings,
    *,
    engine: VoiceEngine | None = None,
    store: QueueStore | None = None,
    sender: Sender | None = None,
    clock: Clock | None = None,
    bus: EventBus | None = None,
    started_at: float | None = None,
    i18n: I18n | None = None,
) -> AsyncIterator[Wired]:
    """``build_core`` plus the bot, its services and the dispatcher (not yet polling)."""
    async with contextlib.AsyncExitStack() as stack:
        if sender is None:
            sender = Sender(global_limit=settings.telegram.calls_per_second)
        bot = create_bot(settings, sender)
        stack.push_async_callback(bot.session.close)
        # after the players closed: a 403 seen last still stops its chat before the end
        stack.push_async_callback(sender.drain)
        core = await stack.enter_async_context(
            build_core(settings, engine=engine, store=store, clock=clock, bus=bus, bot=bot)
        )
        commands: Players = core.players
        router: Router | None = None
        if core.cluster is not None:
            wire = open_wire(settings.storage.redis_url)
            stack.push_async_callback(wire.close)  # after the router's (callbacks unwind)
            router = Router(
                wire,
                core.cluster,
                AssignmentRepo(core.sessions),
                dp=None,
                bot=bot,
                drives=core.channels.channel_of,
            )
            commands = OwnedPlayers(core.players, core.cluster, router.assistant_for)
        services = build_services(
            settings,
            players=commands,
            resolver=core.resolver,
            sessions=core.sessions,
            bus=core.bus,
            sender=sender,
            started_at=started_at,
            chat_settings=core.chat_settings,
            channels=core.channels,
        )
        dp = build_dispatcher(services, i18n=i18n)
        if router is not None and core.cluster is not None:
            router.attach(dp)
            core.cluster.serve, core.cluster.unserve = router.serve, router.unserve
            stack.push_async_callback(router.close)
            # the leases last: a lease taken starts serving its stream and resuming its chats
            await core.cluster.start()
        yield Wired(
            settings=settings,
            db=core.db,
            sessions=core.sessions,
            store=core.store,
            engine=core.engine,
            bus=core.bus,
            chat_settings=core.chat_settings,
            resolver=core.resolver,
            players=core.players,
            channels=core.channels,
            sender=sender,
            bot=bot,
            services=services,
            dp=dp,
            cluster=core.cluster,
            commands=commands,
        )


def chat_placement(
    node: str, pool: AssistantPool | None, engine: VoiceEngine
) -> Callable[[int], dict[str, Any]]:
    """Where a chat is served, as track_change and the dashboard show it: its assistant
    account (None for RTMP, which needs none), the node, and the engine that streams it."""

    def placement(chat_id: int) -> dict[str, Any]:
        name = engine_name(engine, chat_id)
        assistant = None if pool is None or name == "rtmp" else pool.assistant_of(chat_id)
        return {"assistant": assistant, "node": node, "engine": name}

    return placement


def _leased_pool(
    settings: Settings, bot: Bot | None, assignments: AssignmentRepo, bus: EventBus
) -> LeasedPool:
    entries = {entry.name: (i, entry) for i, entry in enumerate(settings.assistant_pool())}
    link = _invite_link(bot)

    def make_member(name: str) -> PoolMember:
        index, entry = entries[name]
        return build_member(settings, entry, index, invite_link=link)

    return LeasedPool(
        list(entries),
        make_member,
        assignments,
        notice=_assistant_notice(bus),
        unban=_unban(bot),
    )


def _cluster_node(
    settings: Settings,
    pool: LeasedPool,
    players: PlayerManager,
    store: QueueStore,
    assignments: AssignmentRepo,
    bus: EventBus,
) -> ClusterNode:
    if not isinstance(store, FenceStore):
        raise TypeError("cluster mode needs a queue store that records fences")
    return ClusterNode(
        redis=connect(settings.storage.redis_url),
        node=settings.node_id(),
        names=[entry.name for entry in settings.assistant_pool()],
        ttl=settings.cluster.lease_seconds,
        pool=pool,
        players=players,
        store=store,
        assignments=assignments,
        bus=bus,
    )


async def _close_node(node: list[ClusterNode]) -> None:
    if node:
        await node[0].close()


def _assistant_notice(bus: EventBus) -> Notice:
    """An assistant-side failure moved a chat: the chat is told in one line (announcer)
    and the monitoring sees it."""

    def notice(chat_id: int, code: str, data: dict[str, Any]) -> None:
        bus.publish(
            AssistantMoved(chat_id=chat_id, code=code, source=data["from"], target=data["to"])
        )

    return notice


def _unban(bot: Bot | None) -> Unban | None:
    if bot is None:
        return None

    async def unban(chat_id: int, user_id: int) -> bool:
        return await bot.unban_chat_member(chat_id, user_id, only_if_banned=True)

    return unban


def _invite_link(bot: Bot | None) -> InviteLink:
    async def invite_link(chat_id: int) -> str:
        if bot is None:
            raise RuntimeError("no bot to create an invite link with")
        link = await bot.create_chat_invite_link(chat_id, name="sattva assistant")
        return link.invite_link

    return invite_link
