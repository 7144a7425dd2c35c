"""Several real ``python -m bot`` cluster nodes, for the cluster tests and the
``cluster_scale`` benchmark.

The nodes share one redis-server and one PostgreSQL database (pass a scratch one: the
``postgres_url`` fixture, or ``benchmarks.queue_ops.scratch_postgres``); each has its own
folder, web port, log and ``cluster.node_id``, runs the local engine, and takes updates by
webhook or, with ``mode="polling"``, from the fake Bot API (one node at a time: the poller
lease).  In front of their ``POST /telegram/webhook`` sits a small round-robin HTTP proxy on
real sockets, playing the load balancer an operator puts there: a node that refuses the
connection is skipped (nginx's ``proxy_next_upstream error``), a node that dies with the
request in flight makes a 502, which Telegram answers by delivering again
(``deliver_until_taken``); ``post`` delivers to one node of the test's choosing instead.
``Events`` keeps every node's ``/ws/monitoring`` frames, reconnecting whenever a node comes
back, so a test can say which node played what and when.  Only Telegram is simulated
(``FakeBotAPI``); kill -9, SIGSTOP and SIGCONT are real signals to real processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from tests.support.bot_process import BotProcess, healthz, wait_healthy, write_config
from tests.support.fake_botapi import FakeBotAPI
from tests.support.procs import free_port

SECRET = "cluster-webhook-secret"
MONITORING_TOKEN = "cluster-monitoring-token"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def assistants(count: int) -> str:
    """``[[assistants]]`` tables for virtual accounts ``a1`` .. ``a<count>`` (the local
    engine needs only their names)."""
    return "".join(f'[[assistants]]\nname = "a{i}"\n' for i in range(1, count + 1))


@dataclass
class Node:
    """One ``python -m bot`` of the cluster; ``start`` again after ``kill`` restarts it
    (same folder, port and node id; the log file is appended to)."""

    index: int
    node_id: str
    workdir: Path
    port: int
    config: Path
    process: BotProcess | None = None
    #: wall clock of the last kill -9 (its streams end there); None while it runs
    stopped_at: float | None = None

    async def start(self) -> None:
        self.stopped_at = None
        self.process = BotProcess(self.config, self.workdir)
        await self.process.start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        assert self.process.proc is not None
        return self.process.proc.pid

    @property
    def running(self) -> bool:
        return (
            self.process is not None
            and self.process.proc is not None
            and self.process.proc.returncode is None
        )

    async def wait_healthy(self, timeout: float = 60) -> dict[str, object]:
        return await wait_healthy(self.port, timeout)

    async def kill(self) -> None:
        """kill -9: no checkpoint, no lease given back."""
        assert self.process is not None
        self.stopped_at = time.time()
        await self.process.signal(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM, a graceful stop; the exit code."""
        assert self.process is not None
        return await self.process.signal(signal.SIGTERM)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing (a GC pause, a frozen VM)."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def log(self) -> str:
        path = self.workdir / "bot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def cluster(self) -> dict[str, Any]:
        """The ``cluster`` part of ``/healthz``: node, nodes, leases, moves."""
        _status, body = await asyncio.to_thread(healthz, self.port)
        cluster: dict[str, Any] = body.get("cluster", {})  # type: ignore[assignment]
        return cluster

    async def metrics(self) -> dict[str, float]:
        """Every sample of ``/metrics``, keyed by its series as written
        (``sattva_polling``, ``sattva_health{part="bot"}``)."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/metrics") as response,
        ):
            text = await response.text()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples[series] = float(value)
        return samples


@dataclass
class Routed:
    """One request the proxy passed on: to which node (web port), and its answer."""

    port: int
    path: str
    status: int


class RoundRobinProxy:
    """The load balancer: each request goes to the next node in turn.  A refused connection
    moves on to the next node (the request was not sent); a failure after sending answers
    502, as nginx does, and the request is not repeated (a webhook POST is not idempotent)."""

    def __init__(self, ports: Callable[[], list[int]], *, timeout: float = 60) -> None:
        self._ports = ports
        self._turn = itertools.count()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.port = free_port()
        self.routed: list[Routed] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RoundRobinProxy:
        # a connection per request: a kept-alive one that a node's server closes just as
        # the next request goes out would read as a failure after sending (a 502)
        self._client = aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(force_close=True)
        )
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("content-type", SECRET_HEADER.lower(), "accept")
        }
        ports = self._ports()
        for _ in range(len(ports)):
            port = ports[next(self._turn) % len(ports)]
            url = f"http://127.0.0.1:{port}{request.path_qs}"
            try:
                async with self._client.request(
                    request.method, url, data=body, headers=headers
                ) as upstream:
                    answer = await upstream.read()
                    kind = upstream.headers.get("Content-Type", "application/json")
                    status = upstream.status
            except aiohttp.ClientConnectorError:
                continue  # nothing listens there: the request never left, try the next
            except (aiohttp.ClientError, TimeoutError):
                self.routed.append(Routed(port, request.path, 502))
                return web.Response(status=502, text="upstream failed")
            self.routed.append(Routed(port, request.path, status))
            return web.Response(status=status, body=answer, headers={"Content-Type": kind})
        return web.Response(status=502, text="no node listens")


@dataclass(frozen=True)
class Seen:
    """One /ws/monitoring frame as a node sent it: ``timestamp`` is the node's wall clock
    when it emitted the frame, ``at`` this process's monotonic time when it arrived."""

    node: str
    event: str
    chat_id: int | None
    data: dict[str, Any]
    timestamp: float
    at: float


class Events:
    """Every node's monitoring stream, kept in arrival order; a node that is down is
    retried every 0.2 s, so the frames of a restarted node are kept too.  ``kinds``: only
    these events (all of them when empty)."""

    def __init__(
        self, nodes: list[Node], token: str = MONITORING_TOKEN, kinds: tuple[str, ...] = ()
    ) -> None:
        self._nodes = nodes  # the cluster's list: nodes added later are followed by ``follow``
        self._token = token
        self._kinds = kinds
        self.seen: list[Seen] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._arrived = asyncio.Event()

    def start(self) -> None:
        for node in self._nodes:
            self.follow(node)

    def follow(self, node: Node) -> None:
        """Keeps ``node``'s frames too (a node added after ``start``)."""
        self._tasks.append(asyncio.create_task(self._follow(node)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, node: Node) -> None:
        url = f"ws://127.0.0.1:{node.port}/ws/monitoring?token={self._token}"
        if self._kinds:
            url += "&events=" + ",".join(self._kinds)
        while True:
            try:
                async with connect(url, open_timeout=2, ping_interval=None) as ws:
                    async for raw in ws:
                        frame = json.loads(raw)
                        self.seen.append(
                            Seen(
                                node.node_id,
                                frame["event"],
                                frame.get("chat_id"),
                                frame.get("data") or {},
                                float(frame["timestamp"]),
                                time.monotonic(),
                            )
                        )
                        self._arrived.set()
            except (OSError, TimeoutError, WebSocketException):
                pass
            await asyncio.sleep(0.2)

    def of(
        self, event: str | None = None, *, node: str | None = None, chat_id: int | None = None
    ) -> list[Seen]:
        return [
            s
            for s in self.seen
            if (event is None or s.event == event)
            and (node is None or s.node == node)
            and (chat_id is None or s.chat_id == chat_id)
        ]

    async def wait_for(self, found: Callable[[list[Seen]], bool], timeout: float = 30) -> None:
        """Until ``found(self.seen)`` holds."""
        async with asyncio.timeout(timeout):
            while not found(self.seen):
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), 0.5)

    def playing(self, chat_id: int, after: float = 0.0) -> list[Seen]:
        """The chat's track changes emitted at or after ``after`` (wall clock)."""
        return [
            s
            for s in self.seen
            if s.event == "track_change" and s.chat_id == chat_id and s.timestamp >= after
        ]

    def intervals(self, chat_id: int) -> list[tuple[str, float, float]]:
        """(node, from, to) in wall clock for each stretch a node streamed the chat: from a
        track change to the next idle status of that node (or its kill -9, or now)."""
        ends = {n.node_id: n.stopped_at for n in self._nodes}
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


@dataclass
class Cluster:
    """``size`` nodes on ``redis_url`` and ``database_url``.  ``tables``: more config tables
    for every node (a string) or per node (a function of the node's index, from 1), e.g.
    ``assistants(n)`` or ``[player]`` settings; ``cluster_enabled`` writes
    ``[cluster] enabled``, ``cluster_table`` and ``telegram`` more lines of those tables;
    ``events``: the monitoring events kept (all when empty)."""

    api: FakeBotAPI
    redis_url: str
    database_url: str
    root: Path
    size: int = 3
    mode: Literal["webhook", "polling"] = "webhook"
    cluster_enabled: bool = True
    tables: str | Callable[[int], str] = ""
    cluster_table: str = ""
    telegram: str = ""
    events_kept: tuple[str, ...] = ()
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.proxy = RoundRobinProxy(lambda: [n.port for n in self.nodes])
        self.events = Events(self.nodes, kinds=self.events_kept)
        self._http: aiohttp.ClientSession | None = None

    def _node(self, index: int) -> Node:
        workdir = self.root / f"node{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        node_id = f"node{index}"
        telegram = self.telegram
        if self.mode == "webhook":
            telegram += (
                'mode = "webhook"\n'
                'webhook_url = "https://bot.example/telegram/webhook"\n'
                f'webhook_secret = "{SECRET}"\n'
            )
        tables = self.tables(index) if callable(self.tables) else self.tables
        config = write_config(
            workdir,
            self.api,
            port,
            self.redis_url,
            telegram=telegram,
            web=f'monitoring_token = "{MONITORING_TOKEN}"\n',
            database_url=self.database_url,
            extra=(
                f"[cluster]\nenabled = {'true' if self.cluster_enabled else 'false'}\n"
                f'node_id = "{node_id}"\n{self.cluster_table}\n{tables}'
            ),
        )
        return Node(index, node_id, workdir, port, config)

    async def start(self, timeout: float = 240) -> Cluster:
        """Every node started at once (as systemd would), then each waited for healthy."""
        # a connection per ``post``: a kept-alive one that a node's server closes just as
        # the next delivery goes out would read as a failed delivery
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        await self.proxy.start()
        self.nodes.extend(self._node(i) for i in range(1, self.size + 1))
        await asyncio.gather(*(n.start() for n in self.nodes))
        try:
            await asyncio.gather(*(n.wait_healthy(timeout) for n in self.nodes))
        except TimeoutError:
            logs = "\n".join(f"--- {n.node_id}\n{n.log()[-3000:]}" for n in self.nodes)
            raise TimeoutError(f"a node never became healthy:\n{logs}") from None
        self.events.start()
        return self

    async def add_node(self) -> Node:
        """One more node joining the running cluster."""
        node = self._node(len(self.nodes) + 1)
        self.nodes.append(node)
        await node.start()
        await node.wait_healthy()
        self.events.follow(node)
        return node

    async def close(self) -> None:
        try:
            await self.events.close()
            await self.proxy.close()
            for node in self.nodes:
                if node.running:
                    with contextlib.suppress(TimeoutError, ProcessLookupError):
                        node.resume()  # a paused node cannot handle SIGTERM
                        await asyncio.wait_for(node.stop(), 30)
                if node.running:
                    await node.kill()
        finally:
            if self._http is not None:
                await self._http.close()
                self._http = None

    async def __aenter__(self) -> Cluster:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.running]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    async def balanced(self, share: int, timeout: float = 30) -> None:
        """Waits until every node holds ``share`` assistant leases."""
        deadline = time.monotonic() + timeout
        while True:
            held = [len((await n.cluster()).get("leases", [])) for n in self.nodes]
            if all(h == share for h in held):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"leases never balanced: {held}")
            await asyncio.sleep(0.3)

    # -- Telegram's side of the webhook ---------------------------------------------------

    async def post(self, node: Node, update: dict[str, Any], *, secret: str = SECRET) -> int:
        """One webhook delivery straight to ``node`` (no proxy); the HTTP status."""
        assert self._http is not None
        async with self._http.post(
            f"http://127.0.0.1:{node.port}/telegram/webhook",
            json=update,
            headers={SECRET_HEADER: secret},
        ) as response:
            await response.read()
            return response.status

    async def deliver(self, update: dict[str, Any], *, secret: str = SECRET) -> int:
        """One POST of ``update`` through the proxy, as Telegram makes it; the status."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.proxy.url}/telegram/webhook",
                json=update,
                headers={SECRET_HEADER: secret},
            ) as response,
        ):
            await response.read()
            return response.status

    async def deliver_until_taken(
        self, update: dict[str, Any], *, timeout: float = 60, pause: float = 0.5
    ) -> int:
        """Telegram's rule: an update not answered 2xx is delivered again later.  The
        number of deliveries it took."""
        attempts = 0
        async with asyncio.timeout(timeout):
            while True:
                attempts += 1
                with contextlib.suppress(aiohttp.ClientError):
                    if 200 <= await self.deliver(update) < 300:
                        return attempts
                await asyncio.sleep(pause)
