"""The ffmpeg command that decodes one track at real-time pace into raw pipes.

Audio leaves as s16le, 2 channels, 48 kHz (what Telegram's voice chats take); a video
track's picture leaves as yuv420p frames of its fitted size at its capped frame rate, on a
pipe of its own, so the reader can count frames and the cost is that of a real decode +
scale.  The local engine reads these pipes; the benchmarks compare against them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.video import VideoSpec
from bot.ffmpeg import FfmpegInput, input_args

#: s16le, 2 channels, 48 kHz
AUDIO_BYTES_PER_SECOND = 48_000 * 2 * 2


@dataclass(frozen=True, slots=True)
class DecodeJob:
    source: FfmpegInput
    position: float = 0.0
    volume: int = 100
    video: VideoSpec | None = None
    has_audio: bool = True
    #: the sound of a picture-only ``source`` (yt-dlp's separate formats)
    audio_source: FfmpegInput | None = None


def video_filter(video: VideoSpec) -> str:
    return f"scale={video.width}:{video.height},fps={video.fps}"


def decode_args(ffmpeg: str, job: DecodeJob, *, video_pipe: str = "pipe:1") -> list[str]:
    """Audio goes to stdout; a video track's picture to ``video_pipe`` (stdout too when the
    track has no sound, else an extra pipe the caller passes to the process)."""
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    args += ["-re", *input_args(job.source, position=job.position)]
    audio_input = 0
    if job.audio_source is not None and job.has_audio:
        args += ["-re", *input_args(job.audio_source, position=job.position)]
        audio_input = 1
    if job.has_audio:
        if job.video is not None:
            args += ["-map", f"{audio_input}:a:0"]
        else:
            args += ["-vn"]
        args += ["-af", f"volume={job.volume / 100:.2f}"]
        args += ["-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1"]
    if job.video is not None:
        args += ["-map", "0:v:0", "-vf", video_filter(job.video), "-pix_fmt", "yuv420p"]
        args += ["-f", "rawvideo", video_pipe if job.has_audio else "pipe:1"]
    return args
