"""How many fetches run at once: a media server that stalls every probe, many /play
requests in many chats, and the ffprobe processes counted while they run."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import psutil

from bot.config import SourcesConfig
from bot.sources.base import SourceError, SourceRequest
from bot.sources.resolver import SourceResolver
from tests.support.media_server import MediaServer


@dataclass
class ProbeCount:
    peak: int = 0
    seen: int = 0


@contextlib.asynccontextmanager
async def ffprobes_counted() -> AsyncIterator[ProbeCount]:
    """Samples this process's ffprobe children every 20 ms while the block runs."""
    count = ProbeCount()
    me = psutil.Process()
    pids: set[int] = set()

    async def sample() -> None:
        while True:
            running = set()
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if child.name() == "ffprobe":
                        running.add(child.pid)
            pids.update(running)
            count.peak = max(count.peak, len(running))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        yield count
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        count.seen = len(pids)


async def resolve_all(resolver: SourceResolver, requests: list[SourceRequest]) -> Counter[str]:
    results = await asyncio.gather(*(resolver.resolve(r) for r in requests), return_exceptions=True)
    assert all(isinstance(r, SourceError) for r in results), results
    return Counter(r.code for r in results if isinstance(r, SourceError))


async def test_probes_are_bounded_per_chat_and_overall(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    sources = make_sources(
        probe_timeout_seconds=1.5,
        max_concurrent_resolves=3,
        max_resolves_per_chat=2,
        resolve_wait_seconds=60,
    )
    resolver = SourceResolver(sources, max_track_seconds=3600)
    stall = media_server.url("slow-body")  # audio headers, then no byte for 30 s
    requests = [SourceRequest(query=stall, chat_id=chat) for chat in range(6) for _ in range(3)]
    async with ffprobes_counted() as probes:
        codes = await resolve_all(resolver, requests)
    # the third request of each chat is refused at once; the other twelve wait their turn
    assert codes == {"busy": 6, "timeout": 12}
    assert probes.seen == 12
    assert 2 <= probes.peak <= 3
    assert resolver.gate.peak == 3
    assert resolver.gate.running == 0
    assert resolver.gate.in_flight(0) == 0


async def test_a_request_waits_for_a_slot_only_so_long(
    media_server: MediaServer, make_sources: Callable[..., SourcesConfig]
) -> None:
    sources = make_sources(
        probe_timeout_seconds=2, max_concurrent_resolves=1, resolve_wait_seconds=0.5
    )
    resolver = SourceResolver(sources, max_track_seconds=3600)
    stall = media_server.url("slow-body")
    requests = [SourceRequest(query=stall, chat_id=chat) for chat in range(3)]
    async with ffprobes_counted() as probes:
        codes = await resolve_all(resolver, requests)
    assert codes == {"timeout": 1, "busy": 2}
    assert probes.seen == 1
