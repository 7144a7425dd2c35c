"""``/metrics`` and the HTTP instruments of the sidecar.

The endpoint serves the one registry every part records into (``bot.metrics.REGISTRY``),
in Prometheus text or OpenMetrics as the scraper's Accept header asks.  Process and system
figures come from psutil through a collector, read at scrape time, so nothing polls.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.metrics import HTTP_LATENCY, HTTP_REQUESTS, REGISTRY
from web.health import check
from web.services import WebServices

UNMATCHED = "<unmatched>"
# Label values come from fixed sets only: a client chooses the method name and the path, and
# each distinct label value is a new series kept for the life of the process.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER


def status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


class SystemCollector(Collector):
    """CPU, memory and disk of this process and of the machine, at scrape time."""

    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path
        self._process = psutil.Process(os.getpid())

    def collect(self) -> Iterator[Metric]:
        times = self._process.cpu_times()
        yield CounterMetricFamily(
            "sattva_process_cpu_seconds",
            "CPU time used by this process (user + system)",
            value=times.user + times.system,
        )
        mem = self._process.memory_info()
        yield GaugeMetricFamily(
            "sattva_process_resident_memory_bytes", "Resident memory of this process", mem.rss
        )
        yield GaugeMetricFamily(
            "sattva_system_cpu_percent",
            "Machine CPU use since the previous reading, percent",
            psutil.cpu_percent(interval=None),
        )
        vm = psutil.virtual_memory()
        yield GaugeMetricFamily(
            "sattva_system_memory_used_bytes", "Machine memory in use", vm.total - vm.available
        )
        yield GaugeMetricFamily("sattva_system_memory_total_bytes", "Machine memory", vm.total)
        try:
            disk = psutil.disk_usage(str(self.disk_path))
        except OSError:
            return
        yield GaugeMetricFamily(
            "sattva_disk_used_bytes", "Used space on the data directory's disk", disk.used
        )
        yield GaugeMetricFamily(
            "sattva_disk_total_bytes", "Size of the data directory's disk", disk.total
        )


_collector: SystemCollector | None = None
_collector_lock = threading.Lock()


def install_system_collector(disk_path: Path) -> None:
    """Registers the collector once per process (a registry refuses duplicates)."""
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = SystemCollector(disk_path)
            REGISTRY.register(_collector)
        else:
            _collector.disk_path = disk_path


def metrics_route(services: WebServices) -> Route:
    async def metrics_endpoint(request: Request) -> Response:
        # Health is probed per scrape (each probe is bounded), so an alert on sattva_health
        # sees the state at most one scrape interval old.
        await check(services)
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(REGISTRY), headers={"Content-Type": content_type})

    # A Route, not a Mount of prometheus' ASGI app: a Mount answers /metrics with a 307.
    return Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics")


def route_template(scope: Scope, root_before: str) -> str:
    """The matched route's path format, with the prefixes of the mounts it sits under.

    Starlette's router records the innermost matched route in ``scope["route"]`` and each
    mount extends ``root_path``; our mounts have static paths, so the two make the template.
    """
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    prefix = str(scope.get("root_path", ""))[len(root_before) :]
    if isinstance(route, Mount):
        return f"{prefix}/{{path}}"
    path = getattr(route, "path", None)
    return f"{prefix}{path}" if isinstance(path, str) else UNMATCHED


class HttpMetricsMiddleware:
    """Counts requests and their latency by route template; WebSockets pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_before = str(scope.get("root_path", ""))
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_template(scope, root_before)
            method = method_label(scope["method"])
            HTTP_REQUESTS.labels(method, route, status_label(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
