"""ffprobe as the one judge of "is this playable audio (or video), how long, what is it
called".

Every source ends here, so the limits (audio present, not longer than the configured
maximum, answered within the probe timeout) hold whatever the origin of the media.  For
/vplay a file also counts when it has a picture but no sound.  Cover art is not video: an
mp3 or m4a carries its album picture as a one-frame "video" stream marked ``attached_pic``
(or as a still-image codec), and playing that as video would send a frozen picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass, replace
from typing import Any

from bot.domain.models import MediaKind, Track
from bot.ffmpeg import UnsafeMedia, ffmpeg_input, input_args
from bot.sources.base import SourceError

#: codecs of still pictures: a stream in one of these is artwork, not video
IMAGE_CODECS = frozenset({"mjpeg", "png", "jpeg", "jpg", "bmp", "webp", "gif", "tiff"})


@dataclass(frozen=True, slots=True)
class VideoStream:
    width: int | None
    height: int | None
    fps: float | None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    duration: float | None
    title: str | None
    artist: str | None
    is_live: bool
    video: VideoStream | None = None  # a real moving picture, when there is one
    has_audio: bool = True

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


def _rate(text: Any) -> float | None:
    """ffprobe's "30000/1001" as a number; None for "0/0" and nonsense."""
    if not isinstance(text, str) or "/" not in text:
        return None
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def video_stream(streams: list[dict[str, Any]]) -> VideoStream | None:
    """The first stream that is moving picture: not cover art, not a still image."""
    for stream in streams:
        if stream.get("codec_type") != "video":
            continue
        if (stream.get("disposition") or {}).get("attached_pic"):
            continue
        if str(stream.get("codec_name", "")).lower() in IMAGE_CODECS:
            continue
        fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
        return VideoStream(_int(stream.get("width")), _int(stream.get("height")), fps)
    return None


def parse_probe(data: dict[str, Any], *, max_seconds: int, want_video: bool = False) -> ProbeResult:
    """Applies the limits to ffprobe's JSON; raises SourceError not_audio / too_long.

    ``want_video``: /vplay asked; a picture without sound is playable then, and the
    result says whether there is a picture at all (``video`` None: play it as audio)."""
    streams = data.get("streams") or []
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    video = video_stream(streams) if want_video else None
    if not has_audio and video is None:
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
    return ProbeResult(
        duration, title, artist, is_live=duration is None, video=video, has_audio=has_audio
    )


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


async def probe(
    media: str, *, timeout: float, max_seconds: int, want_video: bool = False
) -> ProbeResult:
    return parse_probe(
        await run_ffprobe(media, timeout=timeout),
        max_seconds=max_seconds,
        want_video=want_video,
    )


def with_media(track: Track, result: ProbeResult, quality: str | None) -> Track:
    """``track`` as video in ``quality`` when /vplay asked (``quality`` set) and the probe
    found a picture; otherwise as audio (the caller says so when video was asked)."""
    if quality is None or result.video is None:
        return replace(track, media_kind=MediaKind.AUDIO, quality=None, has_audio=True)
    return replace(
        track,
        media_kind=MediaKind.VIDEO,
        quality=quality,
        width=result.video.width,
        height=result.video.height,
        fps=result.video.fps,
        has_audio=result.has_audio,
    )
