"""ffprobe on generated videos: a real picture is video, cover art is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.models import MediaKind, Track
from bot.sources.base import SourceError
from bot.sources.probe import probe, with_media


async def test_landscape_and_portrait_have_video(videos: dict[str, Path]) -> None:
    wide = await probe(str(videos["landscape"]), timeout=10, max_seconds=60, want_video=True)
    tall = await probe(str(videos["portrait"]), timeout=10, max_seconds=60, want_video=True)
    assert wide.video is not None
    assert (wide.video.width, wide.video.height, wide.video.fps) == (640, 360, 25.0)
    assert tall.video is not None
    assert (tall.video.width, tall.video.height) == (360, 640)
    assert wide.has_audio


async def test_cover_art_is_not_video(videos: dict[str, Path]) -> None:
    result = await probe(str(videos["cover"]), timeout=10, max_seconds=60, want_video=True)
    assert result.video is None
    assert result.title == "Covered"
    track = with_media(Track("t", "s", "m"), result, "720p")
    assert track.media_kind is MediaKind.AUDIO


async def test_silent_video_plays_only_as_video(videos: dict[str, Path]) -> None:
    result = await probe(str(videos["silent"]), timeout=10, max_seconds=60, want_video=True)
    assert result.video is not None
    assert not result.has_audio
    track = with_media(Track("t", "s", "m"), result, "480p")
    assert (track.media_kind, track.quality, track.has_audio) == (MediaKind.VIDEO, "480p", False)
    with pytest.raises(SourceError) as err:  # /play of it: no sound to play
        await probe(str(videos["silent"]), timeout=10, max_seconds=60)
    assert err.value.code == "not_audio"


async def test_play_of_a_video_stays_audio(videos: dict[str, Path]) -> None:
    result = await probe(str(videos["landscape"]), timeout=10, max_seconds=60)
    assert result.video is None  # not asked for: /play plays the sound only
    assert with_media(Track("t", "s", "m"), result, None).media_kind is MediaKind.AUDIO


def test_old_track_json_is_audio() -> None:
    raw = '{"title":"a","source":"s","media":"m","kind":"url","id":"x"}'
    assert Track.from_json(raw).media_kind is MediaKind.AUDIO
    video = Track("a", "s", "m", media_kind=MediaKind.VIDEO, quality="720p", width=640)
    assert Track.from_json(video.to_json()) == video
