"""Quality presets as bounding boxes on both sides, oriented like the source."""

from __future__ import annotations

import pytest

from bot.domain.video import VideoSpec, fit, parse_quality


@pytest.mark.parametrize(
    ("quality", "size", "fps", "expected"),
    [
        # landscape 1080p source into 720p: the box's long side is its width
        ("720p", (1920, 1080), 60.0, VideoSpec(1280, 720, 30)),
        # portrait: py-tgcalls' width-only preset would pass 1080x1920 unscaled
        ("720p", (1080, 1920), 30.0, VideoSpec(720, 1280, 30)),
        ("360p", (1080, 1920), 24.0, VideoSpec(360, 640, 24)),
        # never scaled up; odd sizes made even
        ("1080p", (641, 359), 25.0, VideoSpec(640, 358, 25)),
        # wider than 16:9: the width limits
        ("480p", (2560, 1080), 25.0, VideoSpec(854, 360, 25)),
        # 1080p keeps up to 60 fps, below that at most 30
        ("1080p", (1920, 1080), 59.94, VideoSpec(1920, 1080, 60)),
        ("480p", (640, 480), 59.94, VideoSpec(640, 480, 30)),
        # unknown size and rate: a 16:9 picture filling the box at 30 fps
        ("480p", (None, None), None, VideoSpec(854, 480, 30)),
    ],
)
def test_fit(
    quality: str, size: tuple[int | None, int | None], fps: float | None, expected: VideoSpec
) -> None:
    assert fit(quality, *size, fps) == expected


def test_parse_quality() -> None:
    assert parse_quality("720") == "720p"
    assert parse_quality(" 1080P ") == "1080p"
    assert parse_quality("4k") is None
    assert parse_quality("") is None
