"""Apart from the py-tgcalls engine because a stream needs no call, only the request and
where in the track it starts: so the slow part of a ``play`` (py-tgcalls' ffprobe of the
stream) runs ahead while the track before it still sounds, and tests build the very stream
py-tgcalls gets without an engine.

A video track streams its picture at the size the player fitted (``VideoParameters`` with
both sides given: py-tgcalls' quality presets cap only the width) with
``video_flags=REQUIRED``; an audio track sets ``IGNORE``, so cover art inside an mp3 never
becomes a frozen picture.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from bot.engines.base import PlayRequest
from bot.engines.decode import request_inputs
from bot.engines.tgcalls_params import ffmpeg_parameters


@functools.cache
def _probed_once_class() -> type[Any]:
    """py-tgcalls' MediaStream whose probe (``check_stream``: ffprobe, and building the
    ffmpeg command) runs once per stream: ``preload`` may have run it already, and
    ``play`` runs it again otherwise."""
    from pytgcalls.types import MediaStream

    class ProbedOnce(MediaStream):  # type: ignore[misc]
        _probed = False

        async def check_stream(self) -> None:
            if not self._probed:
                await super().check_stream()
                self._probed = True

    return ProbedOnce


def build_stream(request: PlayRequest, position: float) -> Any:
    from pytgcalls.types import AudioQuality, MediaStream
    from pytgcalls.types.raw import VideoParameters

    stream_class = _probed_once_class()
    source, sound = request_inputs(request)
    params = ffmpeg_parameters(source, request, position)
    video = request.video
    if video is None:
        return stream_class(
            source.target,
            audio_parameters=AudioQuality.HIGH,
            video_flags=MediaStream.Flags.IGNORE,
            ffmpeg_parameters=params,
        )
    return stream_class(
        source.target,
        audio_parameters=AudioQuality.HIGH,
        video_parameters=VideoParameters(video.width, video.height, video.fps),
        audio_path=None if sound is None else sound.target,
        audio_flags=(MediaStream.Flags.REQUIRED if request.has_audio else MediaStream.Flags.IGNORE),
        video_flags=MediaStream.Flags.REQUIRED,
        ffmpeg_parameters=params,
    )


async def _probe(request: PlayRequest) -> Any:
    stream = build_stream(request, max(0.0, request.position))
    await stream.check_stream()
    return stream


class Preloads:
    """The next track's stream per chat, built and probed in the background."""

    def __init__(self) -> None:
        self._prepared: dict[int, tuple[PlayRequest, asyncio.Task[Any]]] = {}

    def __len__(self) -> int:
        return len(self._prepared)

    def start(self, chat_id: int, request: PlayRequest | None) -> None:
        """Replaces the chat's preload; nothing for ``None`` or a live stream."""
        self.drop(chat_id)
        if request is None or request.is_live:
            return
        task = asyncio.create_task(_probe(request), name=f"pytgcalls-preload-{chat_id}")
        self._prepared[chat_id] = (request, task)

    async def take(self, request: PlayRequest, position: float) -> Any:
        """The preloaded stream for exactly this request, or None (then ``play`` probes)."""
        entry = self._prepared.pop(request.chat_id, None)
        if entry is None:
            return None
        mine, task = entry
        if (mine.track_id, mine.media, mine.position, mine.speed) != (
            request.track_id,
            request.media,
            position,
            request.speed,
        ):
            task.cancel()
            return None
        try:
            return await task
        except Exception:  # probing failed: play probes again and reports the reason
            return None

    def drop(self, chat_id: int) -> None:
        prepared = self._prepared.pop(chat_id, None)
        if prepared is not None:
            prepared[1].cancel()

    def drop_all(self) -> None:
        for _, task in self._prepared.values():
            task.cancel()
        self._prepared.clear()
