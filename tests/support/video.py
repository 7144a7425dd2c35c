"""Generated video files (real ffmpeg: testsrc2 picture + sine tone), so tests never depend
on bundled media: landscape, portrait, silent, and an mp3 whose cover art must not count
as video."""

from __future__ import annotations

import subprocess
from pathlib import Path

_QUIET = ("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y")


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "640x360",
    fps: int = 25,
    audio: bool = True,
    title: str | None = None,
) -> Path:
    """An h264 (+ aac) mp4; ``size`` is WxH, so "360x640" is a portrait video."""
    args = [*_QUIET, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "64k"] if audio else ["-an"]
    if title is not None:
        args += ["-metadata", f"title={title}"]
    # moov first, as web video is served: a server without range requests can stream it
    args += ["-movflags", "+faststart", "-shortest", str(path)]
    subprocess.run(args, check=True)
    return path


def make_mp3_with_cover(path: Path, *, seconds: float = 2.0, title: str = "Covered") -> Path:
    """An mp3 carrying a PNG album picture (ffprobe lists it as a video stream)."""
    cover = path.with_suffix(".png")
    subprocess.run(
        [*_QUIET, "-f", "lavfi", "-i", "testsrc2=size=300x300", "-frames:v", "1", str(cover)],
        check=True,
    )
    args = [*_QUIET, "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}"]
    args += ["-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-b:a", "64k"]
    args += ["-c:v", "png", "-disposition:v", "attached_pic", "-id3v2_version", "3"]
    args += ["-metadata", f"title={title}", str(path)]
    subprocess.run(args, check=True)
    return path
