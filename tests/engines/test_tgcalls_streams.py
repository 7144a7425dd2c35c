"""The py-tgcalls streams probed ahead of their play: real MediaStreams over a real mp3,
probed by py-tgcalls' own ffprobe; only the exact request that was preloaded takes one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.engines.base import MediaError, PlayRequest
from bot.engines.tgcalls_streams import Preloads, build_stream

CHAT = -1001234567890


@pytest.fixture
async def preloads() -> AsyncIterator[Preloads]:
    preloads = Preloads()
    yield preloads
    preloads.drop_all()


def preload_task(chat_id: int = CHAT) -> asyncio.Task[Any]:
    (task,) = [t for t in asyncio.all_tasks() if t.get_name() == f"pytgcalls-preload-{chat_id}"]
    return task


async def test_the_same_request_takes_the_probed_stream(preloads: Preloads, tone: Path) -> None:
    request = PlayRequest(CHAT, "t1", str(tone), position=0.5)
    preloads.start(CHAT, request)
    assert len(preloads) == 1
    stream = await preloads.take(request, 0.5)
    assert stream._probed is True  # probed in the background, not left for play
    assert stream.microphone.path.startswith("ffmpeg -protocol_whitelist file -ss 0.500 -i ")
    assert len(preloads) == 0
    assert await preloads.take(request, 0.5) is None  # taken once


@pytest.mark.parametrize(
    ("changes", "position"),
    [
        ({"track_id": "t2"}, 0.0),  # another track
        ({"media": "/elsewhere/a.mp3"}, 0.0),  # the same track from another source
        ({}, 3.0),  # the same track from elsewhere in it (a seek)
        ({"speed": 1.5}, 0.0),  # at another speed
    ],
)
async def test_another_request_cancels_the_preload(
    preloads: Preloads, tone: Path, changes: dict[str, Any], position: float
) -> None:
    preloaded = PlayRequest(CHAT, "t1", str(tone))
    preloads.start(CHAT, preloaded)
    task = preload_task()
    assert await preloads.take(replace(preloaded, **changes), position) is None
    await asyncio.wait([task])
    assert task.cancelled()
    assert len(preloads) == 0


async def test_a_failed_probe_is_left_for_play_to_report(preloads: Preloads) -> None:
    request = PlayRequest(CHAT, "t1", "relative/a.mp3")
    with pytest.raises(MediaError, match="refused media"):
        build_stream(request, 0.0)
    preloads.start(CHAT, request)
    assert await preloads.take(request, 0.0) is None


async def test_a_live_stream_or_nothing_next_drops_the_preload(
    preloads: Preloads, tone: Path
) -> None:
    preloads.start(CHAT, PlayRequest(CHAT, "t1", str(tone)))
    first = preload_task()
    preloads.start(CHAT, PlayRequest(CHAT, "live", "https://example.com/live", is_live=True))
    assert len(preloads) == 0
    await asyncio.wait([first])
    assert first.cancelled()
    preloads.start(CHAT, PlayRequest(CHAT, "t2", str(tone)))
    second = preload_task()
    preloads.start(CHAT, None)
    assert len(preloads) == 0
    await asyncio.wait([second])
    assert second.cancelled()
