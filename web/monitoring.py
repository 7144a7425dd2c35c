"""``WS /ws/monitoring``: live player events for dashboards and scripts.

One hub reads the event bus and fans each event out to the connected clients.  Every client
has its own bounded outgoing buffer and its own writer task, so broadcasting never waits on
a socket: a client whose buffer fills (it stopped reading, or its link is too slow) is
dropped and counted, and the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from typing import Any

import psutil
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.domain.events import EVENT_NAMES, Event, EventBus, Subscription
from bot.metrics import REGISTRY, WS_CONNECTIONS, WS_DROPPED
from bot.tasks import cancel_and_wait
from web.auth import session_admin
from web.recent import RecentEvents
from web.security import same_origin
from web.services import WebServices

log = logging.getLogger(__name__)

CLIENT_BUFFER = 256  # frames a client may lag behind before it is dropped
HUB_BUFFER = 10_000  # events between the bus and the hub (the hub never blocks)
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
GOING_AWAY = 1001
CLOSE_TIMEOUT_SECONDS = 1.0


def frame(event: str, chat_id: int | None, data: dict[str, Any]) -> str:
    return json.dumps(
        {"event": event, "chat_id": chat_id, "data": data, "timestamp": time.time()},
        ensure_ascii=False,
    )


def _gauge(name: str) -> int:
    return int(REGISTRY.get_sample_value(name) or 0)


class Client:
    """One connection's filter and mailbox."""

    def __init__(self, chat_id: int | None, events: frozenset[str] | None) -> None:
        self.chat_id = chat_id
        self.events = events
        self.outbox: asyncio.Queue[str] = asyncio.Queue(CLIENT_BUFFER)
        self.done = asyncio.Event()  # set when the connection must end
        self.fell_behind = False

    def wants(self, event: Event) -> bool:
        if self.events is not None and event.event not in self.events:
            return False
        # Machine-wide events (no chat) go to chat-filtered clients too.
        return self.chat_id is None or event.chat_id in (None, self.chat_id)

    def put(self, text: str) -> None:
        """Never blocks: a full mailbox means the client fell behind, so it is dropped."""
        if self.done.is_set():
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.fell_behind = True
            self.done.set()


class MonitoringHub:
    def __init__(self, services: WebServices) -> None:
        self.services = services
        self.clients: set[Client] = set()
        self.recent = RecentEvents()  # what the dashboard lists and shows per chat
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def bus(self) -> EventBus:
        return self.services.bus

    def start(self) -> None:
        self._sub = self.bus.subscribe(maxsize=HUB_BUFFER)
        self._tasks = [
            asyncio.create_task(self._pump(self._sub), name="monitoring-pump"),
            asyncio.create_task(self._metrics_loop(), name="monitoring-metrics"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        for client in self.clients:
            client.done.set()

    async def _pump(self, sub: Subscription) -> None:
        async for event in sub:
            as_dict = event.as_dict()
            self.recent.note(as_dict)
            text = json.dumps(as_dict, ensure_ascii=False)
            for client in tuple(self.clients):
                if client.wants(event):
                    client.put(text)
            # Lets the writers run between events, so a burst is not judged as lag.
            await asyncio.sleep(0)

    async def _metrics_loop(self) -> None:
        interval = self.services.settings.web.metrics_interval_seconds
        psutil.cpu_percent(interval=None)  # primes the counter; the first reading is 0
        while True:
            await asyncio.sleep(interval)
            try:
                data = await self.figures()
            except Exception:
                log.exception("monitoring: could not gather figures")
                continue
            self.bus.publish("metrics_update", None, data)

    async def figures(self) -> dict[str, Any]:
        """System and stream figures for ``metrics_update`` and the dashboard.

        Stream figures are the player's running totals (the Prometheus gauges), so this
        costs the same with ten chats or ten thousand.
        """
        vm = psutil.virtual_memory()
        return {
            "system": {
                "cpu_percent": psutil.cpu_percent(interval=None),
                "memory_percent": vm.percent,
                "memory_used_bytes": vm.total - vm.available,
            },
            "streams": {
                "active": _gauge("sattva_active_streams"),
                "listeners": _gauge("sattva_listeners"),
                "queued": _gauge("sattva_queued_tracks"),
            },
        }

    def add(self, client: Client) -> None:
        self.clients.add(client)
        WS_CONNECTIONS.inc()

    def remove(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            WS_CONNECTIONS.dec()


async def _authorised(services: WebServices, ws: WebSocket) -> bool:
    token = ws.query_params.get("token")
    expected = services.settings.web.monitoring_token.get_secret_value()
    if token is not None:
        return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())
    # A browser sends the session cookie with any WebSocket, so the Origin is what tells
    # the dashboard apart from another site's page.
    return same_origin(ws.headers) and await session_admin(services, ws) is not None


def _parse_filters(ws: WebSocket) -> tuple[int | None, frozenset[str] | None, str | None]:
    raw_chat = ws.query_params.get("chat_id")
    chat_id: int | None = None
    if raw_chat:
        try:
            chat_id = int(raw_chat)
        except ValueError:
            return None, None, f"chat_id must be an integer, got {raw_chat[:40]!r}"
    raw_events = ws.query_params.get("events")
    if not raw_events:
        return chat_id, None, None
    names = frozenset(n.strip() for n in raw_events.split(",") if n.strip())
    unknown = sorted(names - EVENT_NAMES)
    if unknown:
        return chat_id, None, f"unknown events: {', '.join(n[:40] for n in unknown)}"
    return chat_id, names, None


async def _read(ws: WebSocket, client: Client) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and text.strip() == "ping":
            client.put("pong")
        else:
            client.put(frame("error", None, {"error": "the only command is: ping"}))


async def _write(ws: WebSocket, client: Client) -> None:
    while True:
        await ws.send_text(await client.outbox.get())


def monitoring_route(hub: MonitoringHub) -> WebSocketRoute:
    services = hub.services

    async def monitoring(ws: WebSocket) -> None:
        if not await _authorised(services, ws):
            await ws.close(code=POLICY_VIOLATION)  # before accept: the handshake gets a 403
            return
        chat_id, events, error = _parse_filters(ws)
        await ws.accept()
        if error is not None:
            known = sorted(EVENT_NAMES)
            await ws.send_text(frame("error", None, {"error": error, "known_events": known}))
            await ws.close(code=POLICY_VIOLATION, reason=error[:120])
            return
        client = Client(chat_id, events)
        hub.add(client)
        tasks = [
            asyncio.create_task(_read(ws, client)),
            asyncio.create_task(_write(ws, client)),
            asyncio.create_task(client.done.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            hub.remove(client)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, WebSocketDisconnect):
                log.warning("monitoring client failed: %s", result.__class__.__name__)
        if client.done.is_set():
            code, reason = GOING_AWAY, "server stopping"
            if client.fell_behind:
                WS_DROPPED.inc()
                code, reason = TRY_AGAIN_LATER, "too slow: dropped"
            # A stalled client cannot take a close frame either; do not wait on it for long.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    await ws.close(code=code, reason=reason)

    return WebSocketRoute("/ws/monitoring", monitoring, name="monitoring")
