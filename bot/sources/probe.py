"""ffprobe as the one judge of "is this playable audio, how long, what is it called".

Every source ends here, so the limits (audio present, not longer than the configured
maximum, answered within the probe timeout) hold whatever the origin of the media.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass
from typing import Any

from bot.ffmpeg import UnsafeMedia, ffmpeg_input, input_args
from bot.sources.base import SourceError


@dataclass(frozen=True, slots=True)
class ProbeResult:
    duration: float | None
    title: str | None
    artist: str | None
    is_live: bool

    def display_title(self) -> str | None:
        if self.title and self.artist and self.artist.lower() not in self.title.lower():
            return f"{self.artist} — {self.title}"
        return self.title


def _tag(tags: dict[str, Any], *names: str) -> str | None:
    lowered = {str(k).lower(): v for k, v in tags.items()}
    for name in names:
        value = lowered.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_probe(data: dict[str, Any], *, max_seconds: int) -> ProbeResult:
    """Applies the limits to ffprobe's JSON; raises SourceError not_audio / too_long."""
    streams = data.get("streams") or []
    if not any(s.get("codec_type") == "audio" for s in streams):
        raise SourceError("not_audio", "no audio stream")
    fmt: dict[str, Any] = data.get("format") or {}
    duration: float | None = None
    try:
        duration = float(fmt["duration"])
    except (KeyError, TypeError, ValueError):
        duration = None
    if duration is not None and (not math.isfinite(duration) or duration <= 0):
        duration = None
    if duration is not None and duration > max_seconds:
        raise SourceError("too_long", f"{duration:.0f} s > {max_seconds} s")
    tags: dict[str, Any] = dict(fmt.get("tags") or {})
    for stream in streams:
        if stream.get("codec_type") == "audio":
            # Ogg/Opus keep their tags on the stream, not the container
            for key, value in (stream.get("tags") or {}).items():
                tags.setdefault(key, value)
    title = _tag(tags, "title", "icy-name", "streamtitle")
    artist = _tag(tags, "artist", "album_artist", "performer")
    return ProbeResult(duration, title, artist, is_live=duration is None)


def _reason(stderr: str, *, is_network: bool) -> SourceError:
    text = stderr.lower()
    if "format not on whitelist" in text:
        # a demuxer we do not allow for network media (text, images, concat scripts...)
        return SourceError("not_audio", "not a media format we play")
    # first: a playlist pointing at file: fails as "invalid data" too, after this line
    if "not on whitelist" in text or "protocol not found" in text:
        return SourceError("unsupported", "protocol refused")
    if "invalid data found" in text or "invalid argument" in text:
        return SourceError("not_audio", "not a media file")
    if "no such file" in text:
        return SourceError("not_found", "no such file")
    if is_network:
        return SourceError("unreachable", "the server did not deliver media")
    return SourceError("not_audio", "ffprobe could not read it")


async def run_ffprobe(media: str, *, timeout: float, ffprobe: str = "ffprobe") -> dict[str, Any]:
    """ffprobe's JSON about ``media``; killed after ``timeout`` seconds."""
    try:
        source = ffmpeg_input(media)
    except UnsafeMedia as exc:
        raise SourceError("unsupported", str(exc)) from None
    args = [
        ffprobe,
        "-v",
        "error",
        "-hide_banner",
        "-show_format",
        "-show_streams",
        "-of",
        "json",
        *input_args(source),
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        raise SourceError("timeout", f"ffprobe took longer than {timeout:g} s") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise _reason(stderr.decode("utf-8", "replace"), is_network=source.is_network)
    try:
        data: dict[str, Any] = json.loads(stdout or b"{}")
    except json.JSONDecodeError:
        raise SourceError("not_audio", "unreadable ffprobe output") from None
    return data


async def probe(media: str, *, timeout: float, max_seconds: int) -> ProbeResult:
    return parse_probe(await run_ffprobe(media, timeout=timeout), max_seconds=max_seconds)
