"""ws_fanout: 1,000 WebSocket clients subscribed to /ws/monitoring on the real sidecar
(uvicorn on loopback, the web app, its MonitoringHub), 100 events published on the bus;
delivery latency (publish to a client's receipt) with every client reading, and again with
10 of them stalled (they stop reading and their receive buffers are small, so the server's
writes to them block).  The point: stalled clients must not delay the others.

The clients are the ``websockets`` library in this process.  Each event carries 2 KB of
padding so that a stalled client's socket buffers fill within the run instead of quietly
absorbing all 100 small frames.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from benchmarks.common import Result, median, ms, percentile, raise_fd_limit, scratch_dir
from bot.config import PlayerConfig, SourcesConfig, settings_from_mapping
from bot.domain.events import EventBus
from bot.domain.manager import PlayerManager
from bot.sources.resolver import SourceResolver
from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.repos import ChatSettingsRepo, HistoryRepo
from tests.support.fake_engine import FakeEngine
from web.server import WebServer
from web.services import WebServices

CLIENTS = 1_000
STALLED = 10
EVENTS = 100
SPACING = 0.1  # seconds between events
PAD = "x" * 2048
TOKEN = "bench-monitoring-token"  # noqa: S105 (a token for this run only)
CONNECT_CONCURRENCY = 50


class Reader:
    """A client that reads every frame and notes each event's delivery latency."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.latencies: list[float] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.time()
            message = json.loads(raw)
            if message.get("event") == "system_alert":
                self.latencies.append(now - float(message["timestamp"]))

    def stall(self) -> None:
        """Stops reading: no more recv, and the socket is no longer drained."""
        self.task.cancel()
        self.ws.transport.pause_reading()


async def open_client(port: int, *, small_buffer: bool) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/ws/monitoring?token={TOKEN}&events=system_alert"
    if not small_buffer:
        return await connect(url, open_timeout=60, close_timeout=1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await connect(url, sock=sock, max_queue=4, open_timeout=60, close_timeout=1)


async def sidecar(workdir: Path) -> tuple[WebServer, EventBus]:
    db = create_engine(f"sqlite+aiosqlite:///{workdir / 'web.db'}")
    await migrate(db)
    sessions = session_factory(db)
    bus = EventBus()
    store = DatabaseQueueStore(db)
    players = PlayerManager(
        store=store,
        engine=FakeEngine(),
        bus=bus,
        history=HistoryRepo(sessions),
        settings=ChatSettingsRepo(sessions),
        playlists=SourceResolver(SourcesConfig(ytdlp_enabled=False), max_track_seconds=3600),
        config=PlayerConfig(),
    )

    async def ok() -> bool:
        return True

    settings = settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:" + "A" * 35},
            "web": {
                "secret_key": "s" * 40,
                "monitoring_token": TOKEN,
                "metrics_interval_seconds": 3600,
            },
        }
    )
    services = WebServices(
        settings=settings,
        sessionmaker=sessions,
        bus=bus,
        players=players,
        store=store,
        health={"bot": ok, "storage": ok, "engine": ok},
        disk_path=workdir,
    )
    server = WebServer(services, host="127.0.0.1", port=0)
    await server.start()
    return server, bus


async def publish(bus: EventBus, readers: list[Reader]) -> list[float]:
    """Publishes EVENTS events; every latency the given readers saw for them."""
    for reader in readers:
        reader.latencies.clear()
    for i in range(EVENTS):
        bus.publish("system_alert", None, {"seq": i, "pad": PAD})
        await asyncio.sleep(SPACING)
    deadline = time.monotonic() + 30
    while any(len(r.latencies) < EVENTS for r in readers):
        if time.monotonic() > deadline:
            missing = sum(EVENTS - len(r.latencies) for r in readers)
            raise AssertionError(f"{missing} deliveries missing")
        await asyncio.sleep(0.05)
    return [latency for r in readers for latency in r.latencies]


async def run() -> Result:
    raise_fd_limit(4 * CLIENTS + 256)
    with scratch_dir() as workdir:
        server, bus = await sidecar(workdir)
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(i: int) -> ClientConnection:
            async with gate:
                return await open_client(server.port, small_buffer=i < STALLED)

        began = time.monotonic()
        connections = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
        connect_seconds = time.monotonic() - began
        readers = [Reader(ws) for ws in connections]
        try:
            await asyncio.sleep(0.5)
            reading = await publish(bus, readers)
            for reader in readers[:STALLED]:
                reader.stall()
            stalled = await publish(bus, readers[STALLED:])
        finally:
            for reader in readers:
                reader.task.cancel()
            await asyncio.gather(*(r.task for r in readers), return_exceptions=True)
            await server.stop()
            await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    p99_reading, p99_stalled = percentile(reading, 99), percentile(stalled, 99)
    return Result(
        bench="ws_fanout",
        ours=p99_stalled,
        baseline=p99_reading,
        target="<=1.2",
        unit="s (p99 delivery latency)",
        rows=[
            ("clients / events", f"{CLIENTS} / {EVENTS}, one every {SPACING * 1000:.0f} ms"),
            ("connecting every client", f"{connect_seconds:.1f} s"),
            ("all reading: p50 / p99", f"{ms(median(reading))} / {ms(p99_reading)}"),
            (
                f"{STALLED} stalled: p50 / p99 (others)",
                f"{ms(median(stalled))} / {ms(p99_stalled)}",
            ),
        ],
        notes=["ours = p99 with stalled clients, baseline = p99 with every client reading"],
    )


if __name__ == "__main__":
    asyncio.run(run()).print()
