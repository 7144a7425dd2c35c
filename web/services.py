"""What the web sidecar is given by the application: settings and services, nothing else."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cluster.view import ClusterView
from bot.config import Settings
from bot.domain.control import Players
from bot.domain.events import EventBus
from bot.domain.health import HealthProbe
from bot.telegram.webhook import WebhookIntake

HEALTH_PARTS = ("bot", "storage", "engine")


@dataclass(slots=True)
class WebServices:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: EventBus
    players: Players
    # keys: "bot" (polling), "storage", "engine"
    health: Mapping[str, HealthProbe]
    # monotonic seconds; the login throttle reads it (tests pass a controllable clock)
    clock: Callable[[], float] = time.monotonic
    # whose disk usage /metrics reports (the data directory)
    disk_path: Path = field(default_factory=Path.cwd)
    # drops a chat's cached settings after the admin panel edits its row (the bot's
    # ChatSettingsRepo.forget); the default leaves it to the cache's TTL
    forget_chat_settings: Callable[[int], None] = lambda chat_id: None
    # drops the bot's snapshot of the channels table after the panel edits it
    # (ChannelRepo.forget); the default leaves it to the cache's TTL
    forget_channels: Callable[[], None] = lambda: None
    # telegram.mode = "webhook": what POST /telegram/webhook hands each delivery to
    telegram_webhook: WebhookIntake | None = None
    # the files of sources.ytdlp_cookies and which are set aside (CookieJars.report)
    cookie_files: Callable[[], list[dict[str, Any]]] = lambda: []
    # cluster mode: this node, the live nodes, the leases held here, the moves (/healthz)
    cluster_status: Callable[[], dict[str, Any]] | None = None
    # the dashboard's cluster section; None: the sidecar builds this process's own view
    # (bot.cluster.view.cluster_view) and closes it when it stops
    cluster: ClusterView | None = None
