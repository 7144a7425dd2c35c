"""Generated audio files (real ffmpeg), so tests never depend on bundled media."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_tone(
    path: Path,
    *,
    seconds: float = 2.0,
    freq: int = 440,
    title: str | None = None,
    codec_args: tuple[str, ...] = ("-c:a", "libmp3lame", "-b:a", "64k"),
) -> Path:
    """Writes a sine tone; ``title`` goes into the file's tags (ffprobe reads it back)."""
    args = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={freq}:duration={seconds}",
        *codec_args,
    ]
    if title is not None:
        args += ["-metadata", f"title={title}"]
    args.append(str(path))
    subprocess.run(args, check=True)
    return path
