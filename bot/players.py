"""The one place a ``PlayerManager`` is made: the domain's players with the app's defaults.

Kept apart from ``bot.wiring`` (which pulls in aiogram and py-tgcalls) so that a process
that only plays, like the kill -9 test's child, starts without importing Telegram.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain.clock import Clock
from bot.domain.events import EventBus
from bot.domain.manager import PlayerManager
from bot.domain.policy import PlayerPolicy
from bot.domain.ports import (
    ChatSettingsSource,
    MediaRefresher,
    MediaResolver,
    PlayHistorySink,
    PlaylistResolver,
)
from bot.domain.queue import QueueStore
from bot.engines.base import VoiceEngine
from bot.metrics import PrometheusSink


def make_players(
    policy: PlayerPolicy,
    *,
    store: QueueStore,
    engine: VoiceEngine,
    bus: EventBus,
    history: PlayHistorySink,
    settings: ChatSettingsSource,
    playlists: PlaylistResolver,
    clock: Clock | None = None,
    per_chat_labels: bool = False,
    placement: Callable[[int], dict[str, Any]] | None = None,
    refresher: MediaRefresher | None = None,
    media: MediaResolver | None = None,
) -> PlayerManager:
    """The players, recording into Prometheus (``per_chat_labels``: metrics.per_chat_labels);
    ``placement`` names where a chat is served (assistant account, node) for track_change;
    ``refresher`` re-resolves a live track before it is restarted after an outage;
    ``media`` resolves playlist entries and expired stream URLs before they play."""
    return PlayerManager(
        store=store,
        engine=engine,
        bus=bus,
        history=history,
        settings=settings,
        playlists=playlists,
        config=policy,
        clock=clock,
        stats_sink=PrometheusSink(per_chat_labels=per_chat_labels),
        placement=placement,
        refresher=refresher,
        media=media,
    )
