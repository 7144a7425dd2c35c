"""ws_fanout: 1,000 WebSocket clients subscribed to /ws/monitoring on the real sidecar
(uvicorn on loopback, the web app, its MonitoringHub), 100 events published on the bus;
delivery latency (publish to a client's receipt) with every client reading, and again with
10 of them stalled (they stop reading and their receive buffers are small, so the server's
writes to them block).  The point: stalled clients must not delay the others.

The clients are the ``websockets`` library in this process, without permessage-deflate
(it would shrink the padding to nothing).  Each event carries 4 KB of padding, and the
listening socket's send buffer is fixed at 8 KB (accepted sockets inherit it; left alone,
Linux grows a loopback send buffer up to 4 MB), so that within one block of 50 events a
stalled client's frames overflow the kernel's buffers and asyncio's 64 KB write buffer:
the server's writer task for that client really waits on drain (the table shows how many
frames its outbox held), instead of the frames vanishing into buffers.  The
conditions alternate in blocks (a stalled client resumes and drains its backlog between
blocks; none reaches the hub's 256-frame limit, so none is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from benchmarks.common import Result, median, ms, percentile, raise_fd_limit, scratch_dir
from bot.config import settings_from_mapping
from bot.domain.events import EventBus, SystemAlert
from bot.wiring import build_core
from tests.support.fake_engine import FakeEngine
from web.monitoring import MonitoringHub
from web.server import WebServer
from web.services import WebServices

CLIENTS = 1_000
STALLED = 10
EVENTS = 100
SPACING = 0.1  # seconds between events
WARM_UP = 20  # events published (and not counted) before the first phase
BLOCKS = 2  # each condition runs in this many blocks, alternating
PAD = "x" * 4096
SERVER_SNDBUF = 8 * 1024  # per accepted socket (Linux doubles it); no autotuning to 4 MB
TOKEN = "bench-monitoring-token"  # noqa: S105 (a token for this run only)
CONNECT_CONCURRENCY = 50


class Reader:
    """A client that reads every frame and notes each event's delivery latency by seq."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.latencies: dict[int, float] = {}
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.time()
            message = json.loads(raw)
            if message.get("event") == "system_alert":
                seq = int(message["data"]["component"].removeprefix("bench-"))
                self.latencies[seq] = now - float(message["timestamp"])

    def stall(self) -> None:
        """Stops reading: no more recv (which websockets makes safe to cancel), and the
        socket is no longer drained, so the server's writes to it back up."""
        self.task.cancel()
        self.ws.transport.pause_reading()

    def resume(self) -> None:
        self.ws.transport.resume_reading()
        self.task = asyncio.create_task(self._read())


async def open_client(port: int, *, small_buffer: bool) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/ws/monitoring?token={TOKEN}&events=system_alert"
    if not small_buffer:
        return await connect(url, open_timeout=60, close_timeout=1, compression=None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await connect(
        url, sock=sock, max_queue=4, open_timeout=60, close_timeout=1, compression=None
    )


class SmallBufferServer(WebServer):
    def _bind(self) -> socket.socket:
        sock = super()._bind()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SERVER_SNDBUF)
        return sock


@contextlib.asynccontextmanager
async def sidecar(workdir: Path) -> AsyncIterator[tuple[WebServer, EventBus]]:
    """The app's parts (``bot.wiring.build_core``) on the FakeEngine, under the web server."""

    async def ok() -> bool:
        return True

    settings = settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:" + "A" * 35},
            "storage": {"database_url": f"sqlite+aiosqlite:///{workdir / 'web.db'}"},
            "sources": {"ytdlp_enabled": False, "cache_dir": str(workdir / "cache")},
            "engine": {"kind": "local"},
            "web": {
                "secret_key": "s" * 40,
                "monitoring_token": TOKEN,
                "metrics_interval_seconds": 3600,
                # the sidecar's connection cap (default 100) would refuse most of them
                "max_connections": CLIENTS + 64,
            },
        }
    )
    async with build_core(settings, engine=FakeEngine()) as core:
        services = WebServices(
            settings=settings,
            sessionmaker=core.sessions,
            bus=core.bus,
            players=core.players,
            health={"bot": ok, "storage": ok, "engine": ok},
            disk_path=workdir,
        )
        server = SmallBufferServer(services, host="127.0.0.1", port=0)
        await server.start()
        yield server, core.bus


class Publisher:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.seq = 0

    async def block(self, readers: list[Reader], events: int) -> list[float]:
        """Publishes ``events`` events; the latencies the given readers saw for them."""
        gc.collect()  # a full collection over 1,000 connections' objects takes a while:
        gc.freeze()  # never inside one block and not another
        first = self.seq
        for _ in range(events):
            self.bus.publish(SystemAlert(component=f"bench-{self.seq}", status="up", detail=PAD))
            self.seq += 1
            await asyncio.sleep(SPACING)
        await caught_up(readers, self.seq)
        return [r.latencies[i] for r in readers for i in range(first, self.seq)]


async def caught_up(readers: list[Reader], seq: int) -> None:
    """Waits until every reader has every event before ``seq``."""
    deadline = time.monotonic() + 30
    while any(len(r.latencies) < seq for r in readers):
        if time.monotonic() > deadline:
            missing = sum(seq - len(r.latencies) for r in readers)
            raise AssertionError(f"{missing} deliveries missing")
        await asyncio.sleep(0.05)


async def run() -> Result:
    raise_fd_limit(4 * CLIENTS + 256)
    with scratch_dir() as workdir:
        async with sidecar(workdir) as (server, bus):
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

            async def one(i: int) -> ClientConnection:
                async with gate:
                    return await open_client(server.port, small_buffer=i < STALLED)

            began = time.monotonic()
            connections = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
            connect_seconds = time.monotonic() - began
            readers = [Reader(ws) for ws in connections]
            try:
                publisher = Publisher(bus)
                await publisher.block(readers, WARM_UP)  # fresh connections' first frames are slow
                reading: list[float] = []
                stalled: list[float] = []
                stallers, others = readers[:STALLED], readers[STALLED:]
                backlog = 0  # the most frames a stalled client's server-side outbox held
                for _ in range(BLOCKS):  # the two conditions alternate, so drift hits both
                    reading += await publisher.block(readers, EVENTS // BLOCKS)
                    for reader in stallers:
                        reader.stall()
                    stalled += await publisher.block(others, EVENTS // BLOCKS)
                    hub: MonitoringHub = server.app.state.hub
                    backlog = max(backlog, max(c.outbox.qsize() for c in hub.clients))
                    for reader in stallers:
                        reader.resume()
                    await caught_up(stallers, publisher.seq)  # their backlog, before timing again
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
            (
                "clients / events",
                f"{CLIENTS} / {EVENTS} per condition in {BLOCKS} alternating blocks, "
                f"one every {SPACING * 1000:.0f} ms (after {WARM_UP} not counted)",
            ),
            ("connecting every client", f"{connect_seconds:.1f} s"),
            ("stalled clients' outbox at block end", f"up to {backlog} frames waiting"),
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
