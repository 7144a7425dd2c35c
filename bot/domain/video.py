"""Video quality presets and how a source's picture is fitted into one.

A preset is a bounding box on both sides, oriented like the source: "720p" means at most
1280 x 720 for a landscape video and 720 x 1280 for a portrait one, so a phone video keeps
its aspect and its sharpness.  py-tgcalls' own presets cap only the width (a portrait
1080 x 1920 video passes "720p" unscaled), which is why the engines get the fitted size
from here instead of a preset name.  Nothing is ever scaled up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: the long and the short side of each preset's box
BOXES: Final[dict[str, tuple[int, int]]] = {
    "360p": (640, 360),
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
}
QUALITIES: Final = tuple(BOXES)
DEFAULT_QUALITY: Final = "720p"
#: below 1080p a video chat gets at most 30 frames per second; 1080p may keep up to 60
FPS_CAP: Final = 30
FPS_CAP_1080P: Final = 60
#: the frame rate assumed when the source does not say
DEFAULT_FPS: Final = 30


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """What an engine renders: the fitted frame size (even numbers) and frame rate."""

    width: int
    height: int
    fps: int

    @property
    def frame_bytes(self) -> int:
        """Bytes of one yuv420p frame at this size."""
        return self.width * self.height * 3 // 2


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def fit(
    quality: str,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
) -> VideoSpec:
    """The largest size of the source's aspect inside ``quality``'s box, never larger
    than the source; an unknown size counts as a 16:9 landscape filling the box."""
    long_side, short_side = BOXES.get(quality, BOXES[DEFAULT_QUALITY])
    if not width or not height or width <= 0 or height <= 0:
        width, height = long_side, short_side
    box_w, box_h = (long_side, short_side) if width >= height else (short_side, long_side)
    scale = min(1.0, box_w / width, box_h / height)
    cap = FPS_CAP_1080P if quality == "1080p" else FPS_CAP
    rate = fps if fps is not None and fps > 0 else DEFAULT_FPS
    return VideoSpec(_even(width * scale), _even(height * scale), max(1, min(cap, round(rate))))


def parse_quality(text: str) -> str | None:
    """ "720", "720p" or "720P" as a preset name; None when it is not one."""
    name = text.strip().lower()
    if name.isdecimal():
        name += "p"
    return name if name in BOXES else None
