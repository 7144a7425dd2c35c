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


def decode_args(
    ffmpeg: str, job: DecodeJob, *, video_pipe: str = "pipe:1", realtime: bool = True
) -> list[str]:
    """Audio goes to stdout; a video track's picture to ``video_pipe`` (stdout by default;
    with sound on stdout too, an extra pipe the caller passes to the process).

    ``realtime``: ffmpeg paces itself (``-re``); the local engine paces by reading instead,
    so that a pre-rolled decoder can wait on its full pipes (see ``bot.engines.local``)."""
    pace = ["-re"] if realtime else []
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    args += [*pace, *input_args(job.source, position=job.position)]
    audio_input = 0
    if job.audio_source is not None and job.has_audio:
        args += [*pace, *input_args(job.audio_source, position=job.position)]
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
        args += ["-f", "rawvideo", video_pipe]
    return args


def canvas_filter(frame: VideoSpec) -> str:
    """Scales a picture into ``frame`` keeping its aspect, centred on black (an RTMP
    stream keeps one size for every track it carries)."""
    w, h = frame.width, frame.height
    return (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,fps={frame.fps},format=yuv420p"
    )


def canvas_args(ffmpeg: str, job: DecodeJob, frame: VideoSpec, *, video_pipe: str) -> list[str]:
    """A video track for a fixed-size stream: picture on ``video_pipe`` scaled into
    ``frame``, sound on stdout when it has any.  (An audio track needs no picture from
    ffmpeg: ``decode_args`` gives its sound and the engine adds still frames.)"""
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    args += ["-re", *input_args(job.source, position=job.position)]
    audio_input = 0
    if job.audio_source is not None and job.has_audio:
        args += ["-re", *input_args(job.audio_source, position=job.position)]
        audio_input = 1
    if job.has_audio:
        args += ["-map", f"{audio_input}:a:0", "-af", f"volume={job.volume / 100:.2f}"]
        args += ["-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1"]
    args += ["-map", "0:v:0", "-vf", canvas_filter(frame), "-f", "rawvideo", video_pipe]
    return args


def push_args(
    ffmpeg: str, frame: VideoSpec, *, video_pipe: str, audio_pipe: str, target: str
) -> list[str]:
    """The one long-lived encoder of an RTMP chat: raw picture and sound in (fed track
    after track), h264 + aac FLV out to ``target``."""
    gop = str(2 * frame.fps)
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        # raw inputs need no probing; probing one would wait for data the decoder cannot
        # send while the other pipe is full (a deadlock)
        "-probesize", "32", "-analyzeduration", "0",
        "-thread_queue_size", "512", "-f", "rawvideo", "-pix_fmt", "yuv420p",
        "-s", f"{frame.width}x{frame.height}", "-r", str(frame.fps), "-i", video_pipe,
        "-probesize", "32", "-analyzeduration", "0",
        "-thread_queue_size", "512", "-f", "s16le", "-ar", "48000", "-ac", "2", "-i", audio_pipe,
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", gop, "-keyint_min", gop, "-b:v", f"{frame_bitrate(frame)}k",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000",
        "-f", "flv", "-flvflags", "no_duration_filesize", target,
    ]  # fmt: skip


def frame_bitrate(frame: VideoSpec) -> int:
    """kbit/s for a picture size: about 0.1 bit per pixel per frame, within 500-6000."""
    return max(500, min(6000, frame.width * frame.height * frame.fps // 10_000))
