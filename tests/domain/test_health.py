"""``system_alert``: the health watch reports each part going down and coming back once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.domain.events import EventBus, SystemAlert
from bot.domain.health import HEALTH_CHECK_SECONDS, HealthWatch, probe_ok
from tests.support.clock import ManualClock


class Switch:
    def __init__(self) -> None:
        self.up = True
        self.raises = False

    async def __call__(self) -> bool:
        if self.raises:
            raise ConnectionError("gone")
        return self.up


def alerts(sub_events: Sequence[object]) -> list[tuple[str, str, str]]:
    return [(e.component, e.status, e.detail) for e in sub_events if isinstance(e, SystemAlert)]


async def test_each_change_is_published_once() -> None:
    bus, clock = EventBus(), ManualClock()
    storage, engine = Switch(), Switch()
    sub = bus.subscribe(["system_alert"])
    watch = HealthWatch(bus=bus, clock=clock, probes={"storage": storage, "engine": engine})
    watch.start()
    try:
        await clock.advance(HEALTH_CHECK_SECONDS)
        assert sub.get_nowait() is None  # all up: nothing to say

        storage.raises = True
        engine.up = False
        for _ in range(3):  # still down on later rounds: said once
            await clock.advance(HEALTH_CHECK_SECONDS)
        seen = []
        while (event := sub.get_nowait()) is not None:
            seen.append(event)
        assert alerts(seen) == [
            ("storage", "down", "ConnectionError"),
            ("engine", "down", "unhealthy"),
        ]
        assert all(e.chat_id is None for e in seen)

        storage.raises = False
        await clock.advance(HEALTH_CHECK_SECONDS)
        event = sub.get_nowait()
        assert event is not None
        assert event.as_dict()["data"] == {
            "kind": "health",
            "component": "storage",
            "status": "up",
            "detail": "",
        }
        assert sub.get_nowait() is None
    finally:
        await watch.close()


async def test_a_probe_that_hangs_counts_as_down() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(60)
        return True

    up, seen = await probe_ok("storage", hangs, timeout=0.05)
    assert (up, seen) == (False, "no answer within 0.05 s")
    assert await probe_ok("storage", None) == (False, "no probe")
