"""Watches the process's parts and tells the bus when one goes down or comes back.

A probe answers "is this part up?" (the queue store answers a ping, the voice engine's
assistant account is connected).  ``HealthWatch`` asks every probe each
``HEALTH_CHECK_SECONDS`` and publishes one ``SystemAlert`` per change, not one per check,
so a dashboard sees "storage down" once and "storage up" once when it returns.  The same
probes answer ``/healthz`` (``probe_ok``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from bot.domain.clock import Clock
from bot.domain.events import EventBus, SystemAlert
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HealthProbe = Callable[[], Awaitable[bool]]

HEALTH_CHECK_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 3.0


async def probe_ok(
    name: str, probe: HealthProbe | None, *, timeout: float = PROBE_TIMEOUT_SECONDS
) -> tuple[bool, str]:
    """(up, what was seen): a probe that raises or takes longer than ``timeout`` is down."""
    if probe is None:
        return False, "no probe"
    try:
        async with asyncio.timeout(timeout):
            up = bool(await probe())
    except TimeoutError:
        log.warning("health probe %s timed out", name)
        return False, f"no answer within {timeout:g} s"
    except Exception as exc:  # a failing probe means "down", whatever it raised
        log.warning("health probe %s failed: %s", name, exc.__class__.__name__)
        return False, exc.__class__.__name__
    return up, "" if up else "unhealthy"


class HealthWatch:
    """Publishes ``system_alert`` on each up/down change of a probe.  Every part counts
    as up at start, so a part that is down from the first check is reported too."""

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        probes: Mapping[str, HealthProbe],
        interval: float = HEALTH_CHECK_SECONDS,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._probes = dict(probes)
        self._interval = interval
        self._up = dict.fromkeys(self._probes, True)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="health-watch")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])

    async def check(self) -> None:
        """One round over every probe (the loop's step; tests call it directly)."""
        results = await asyncio.gather(
            *(probe_ok(name, probe) for name, probe in self._probes.items())
        )
        for name, (up, detail) in zip(self._probes, results, strict=True):
            if up == self._up[name]:
                continue
            self._up[name] = up
            self._bus.publish(
                SystemAlert(component=name, status="up" if up else "down", detail=detail)
            )

    async def _loop(self) -> None:
        while True:
            await self._clock.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                log.exception("health watch: a round failed")
