"""Several real ``python -m bot`` cluster nodes for the failover tests.

The nodes share one redis-server and one PostgreSQL database, run the local engine with
virtual assistants (``[[assistants]]`` with only a name) and take updates by webhook; the
test posts each update to a node of its choosing, as a load balancer would.  ``Events``
keeps every node's ``/ws/monitoring`` frames (reconnecting while a node is down), so a test
can tell which node played which chat, and when.  Only Telegram is simulated
(``FakeBotAPI``); kill -9, SIGSTOP and SIGCONT are real signals to real processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.bot_process import BotProcess, healthz, wait_healthy, write_config
from tests.support.fake_botapi import FakeBotAPI
from tests.support.procs import free_port

SECRET = "cluster-nodes-secret"
MONITORING_TOKEN = "cluster-nodes-monitoring"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class ClusterNodeProcess:
    node_id: str
    workdir: Path
    port: int
    config: Path
    process: BotProcess | None = None
    stopped_at: float | None = None  # wall clock of kill -9 (its streams end there)

    async def start(self) -> None:
        self.process = BotProcess(self.config, self.workdir)
        await self.process.start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        assert self.process.proc is not None
        return self.process.proc.pid

    async def kill(self) -> None:
        self.stopped_at = time.time()
        assert self.process is not None
        await self.process.signal(signal.SIGKILL)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def log(self) -> str:
        path = self.workdir / "bot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def cluster(self) -> dict[str, Any]:
        _status, body = await asyncio.to_thread(healthz, self.port)
        cluster: dict[str, Any] = body.get("cluster", {})  # type: ignore[assignment]
        return cluster


def cluster_config(
    workdir: Path,
    api: FakeBotAPI,
    port: int,
    *,
    node_id: str,
    redis_url: str,
    database_url: str,
    assistants: int,
    lease_seconds: float,
) -> Path:
    accounts = "".join(f'[[assistants]]\nname = "a{i}"\n' for i in range(1, assistants + 1))
    path = write_config(
        workdir,
        api,
        port,
        redis_url,
        telegram=(
            'mode = "webhook"\nwebhook_url = "https://bot.example/telegram/webhook"\n'
            f'webhook_secret = "{SECRET}"\n'
        ),
        web=f'monitoring_token = "{MONITORING_TOKEN}"\n',
        extra=(
            f'[cluster]\nenabled = true\nnode_id = "{node_id}"\nlease_seconds = {lease_seconds}\n'
            "[player]\ncheckpoint_seconds = 1\n" + accounts
        ),
    )
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        f'database_url = "sqlite+aiosqlite:///{workdir / "sattva.db"}"',
        f'database_url = "{database_url}"',
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Seen:
    node: str
    event: str
    chat_id: int | None
    data: dict[str, Any]
    timestamp: float


@dataclass
class Events:
    """Every node's monitoring frames, in arrival order."""

    nodes: list[ClusterNodeProcess]
    seen: list[Seen] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(node)) for node in self.nodes]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, node: ClusterNodeProcess) -> None:
        url = (
            f"http://127.0.0.1:{node.port}/ws/monitoring?token={MONITORING_TOKEN}"
            "&events=track_change,stream_status,system_alert"
        )
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(url, heartbeat=None) as ws:
                        async for message in ws:
                            if message.type != aiohttp.WSMsgType.TEXT:
                                continue
                            frame = json.loads(message.data)
                            self.seen.append(
                                Seen(
                                    node.node_id,
                                    frame["event"],
                                    frame.get("chat_id"),
                                    frame.get("data") or {},
                                    float(frame["timestamp"]),
                                )
                            )
                except (aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(0.2)

    def playing(self, chat_id: int, after: float = 0.0) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.event == "track_change" and s.chat_id == chat_id and s.timestamp >= after
        ]

    def intervals(self, chat_id: int) -> list[tuple[str, float, float]]:
        """(node, from, to) for each stretch a node streamed the chat: from a track change
        to the next idle status of that node (or its kill -9, or now)."""
        ends = {n.node_id: n.stopped_at for n in self.nodes}
        open_at: dict[str, float] = {}
        spans: list[tuple[str, float, float]] = []
        for s in sorted(self.seen, key=lambda s: s.timestamp):
            if s.chat_id != chat_id:
                continue
            if s.event == "track_change" and s.data.get("title"):
                open_at.setdefault(s.node, s.timestamp)
            elif s.event == "stream_status" and s.data.get("state") == "idle" and s.node in open_at:
                spans.append((s.node, open_at.pop(s.node), s.timestamp))
        for node, start in open_at.items():
            spans.append((node, start, ends.get(node) or time.time()))
        return spans


class Cluster:
    def __init__(
        self,
        root: Path,
        api: FakeBotAPI,
        *,
        nodes: int,
        assistants: int,
        redis_url: str,
        database_url: str,
        lease_seconds: float,
    ) -> None:
        self.api = api
        self.nodes: list[ClusterNodeProcess] = []
        for i in range(1, nodes + 1):
            workdir = root / f"n{i}"
            workdir.mkdir()
            port = free_port()
            config = cluster_config(
                workdir,
                api,
                port,
                node_id=f"n{i}",
                redis_url=redis_url,
                database_url=database_url,
                assistants=assistants,
                lease_seconds=lease_seconds,
            )
            self.nodes.append(ClusterNodeProcess(f"n{i}", workdir, port, config))
        self.events = Events(self.nodes)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # a connection per delivery: a kept-alive one that a node's server closes just as
        # the next delivery goes out would read as a failed delivery
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        await asyncio.gather(*(node.start() for node in self.nodes))
        await asyncio.gather(*(wait_healthy(node.port, timeout=150) for node in self.nodes))
        self.events.start()

    async def close(self) -> None:
        try:
            await self.events.close()
            for node in self.nodes:
                proc = node.process.proc if node.process is not None else None
                if proc is not None and proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        node.resume()
                    try:
                        await node.process.signal(signal.SIGTERM)  # type: ignore[union-attr]
                    except TimeoutError:  # a stop slower than 30 s: not what is tested here
                        proc.kill()
                        await proc.wait()
        finally:
            if self._http is not None:
                await self._http.close()

    async def post(self, node: ClusterNodeProcess, update: dict[str, Any]) -> int:
        """One webhook delivery to ``node``; the HTTP status."""
        assert self._http is not None
        async with self._http.post(
            f"http://127.0.0.1:{node.port}/telegram/webhook",
            json=update,
            headers={SECRET_HEADER: SECRET},
        ) as response:
            await response.read()
            return response.status

    async def balanced(self, share: int) -> None:
        """Waits until every node holds ``share`` leases."""
        deadline = time.monotonic() + 30
        while True:
            held = [len((await n.cluster()).get("leases", [])) for n in self.nodes]
            if all(h == share for h in held):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"leases never balanced: {held}")
            await asyncio.sleep(0.3)
