"""The ffmpeg command that decodes one track at real-time pace into raw pipes.

Audio leaves as s16le, 2 channels, 48 kHz (what Telegram's voice chats take); a video
track's picture leaves as yuv420p frames of its fitted size at its capped frame rate, on a
pipe of its own, so the reader can count frames and the cost is that of a real decode +
scale.  The local engine reads these pipes; the benchmarks compare against them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.policy import SPEED_MAX, SPEED_MIN, SPEED_NORMAL, valid_speed
from bot.domain.video import VideoSpec
from bot.engines.base import MediaError, PlayRequest
from bot.ffmpeg import FfmpegInput, UnsafeMedia, ffmpeg_input, input_args

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
    #: tempo; ``position`` is in track (source) time, as ``-ss`` is
    speed: float = 1.0


def speed_text(speed: float) -> str:
    """``speed`` as it goes into a filter: a plain decimal, and only one in range (the
    player checks too; this is the engines' own guard, since the text becomes part of an
    ffmpeg filter graph, where a stray ``,`` or ``;`` would add filters)."""
    if not valid_speed(speed):
        raise ValueError(f"speed {speed!r} outside {SPEED_MIN}..{SPEED_MAX}")
    return f"{speed:.4f}".rstrip("0").rstrip(".")


def rate(request: PlayRequest) -> float:
    """The tempo an engine decodes ``request`` at: a live stream always at 1x."""
    return SPEED_NORMAL if request.is_live else request.speed


def check_speed(request: PlayRequest) -> None:
    """Raises ``MediaError`` for a speed no engine may put into a filter."""
    try:
        speed_text(rate(request))
    except ValueError as exc:
        raise MediaError(f"refused speed: {exc}") from None


def request_inputs(request: PlayRequest) -> tuple[FfmpegInput, FfmpegInput | None]:
    """The request's media and its separate sound (if any) as ffmpeg inputs, after the
    checks every engine makes before it starts anything: ``MediaError`` for media the
    guard refuses or a speed no filter takes, so a bad request never reaches a process."""
    try:
        source = ffmpeg_input(request.media)
        sound = None if request.audio_media is None else ffmpeg_input(request.audio_media)
    except UnsafeMedia as exc:
        raise MediaError(f"refused media: {exc}") from None
    check_speed(request)
    return source, sound


def request_job(request: PlayRequest, position: float) -> DecodeJob:
    """The decode of ``request`` from ``position`` (track time; a live stream from its
    live edge), after ``request_inputs``' checks."""
    source, sound = request_inputs(request)
    return DecodeJob(
        source,
        position=0.0 if request.is_live else max(0.0, position),
        volume=request.volume,
        video=request.video,
        has_audio=request.has_audio or request.video is None,
        audio_source=sound,
        speed=rate(request),
    )


def tempo_filter(speed: float) -> str | None:
    """The audio filter for ``speed`` without a pitch change (one ``atempo``: its range
    0.5-100 covers SPEED_MIN..SPEED_MAX), or None at normal speed."""
    return None if speed == SPEED_NORMAL else f"atempo={speed_text(speed)}"


def setpts_filter(speed: float) -> str | None:
    """The picture's timestamps divided by ``speed`` (frames then dropped or repeated to
    the output rate by the ``fps`` filter after it), or None at normal speed."""
    return None if speed == SPEED_NORMAL else f"setpts=PTS/{speed_text(speed)}"


def audio_filter(volume: int, speed: float) -> str:
    return ",".join(f for f in (f"volume={volume / 100:.2f}", tempo_filter(speed)) if f)


def pace_args(speed: float) -> list[str]:
    """ffmpeg's own real-time pacing: it reads the INPUT at a rate, so at ``speed`` it
    must read ``speed`` seconds of source per second for its output to keep real time."""
    return ["-re"] if speed == SPEED_NORMAL else ["-readrate", speed_text(speed)]


def video_filter(video: VideoSpec, speed: float = SPEED_NORMAL) -> str:
    scale = f"scale={video.width}:{video.height},fps={video.fps}"
    tempo = setpts_filter(speed)
    return scale if tempo is None else f"{tempo},{scale}"


def decode_args(
    ffmpeg: str, job: DecodeJob, *, video_pipe: str = "pipe:1", realtime: bool = True
) -> list[str]:
    """Audio goes to stdout; a video track's picture to ``video_pipe`` (stdout by default;
    with sound on stdout too, an extra pipe the caller passes to the process).

    ``realtime``: ffmpeg paces itself (``-re``); the local engine paces by reading instead,
    so that a pre-rolled decoder can wait on its full pipes (see ``bot.engines.local``)."""
    pace = pace_args(job.speed) if realtime else []
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
        args += ["-af", audio_filter(job.volume, job.speed)]
        args += ["-f", "s16le", "-ac", "2", "-ar", "48000", "pipe:1"]
    if job.video is not None:
        args += ["-map", "0:v:0", "-vf", video_filter(job.video, job.speed), "-pix_fmt", "yuv420p"]
        args += ["-f", "rawvideo", video_pipe]
    return args


def canvas_filter(frame: VideoSpec, speed: float = SPEED_NORMAL) -> str:
    """Scales a picture into ``frame`` keeping its aspect, centred on black (an RTMP
    stream keeps one size for every track it carries)."""
    w, h = frame.width, frame.height
    tempo = setpts_filter(speed)
    return ("" if tempo is None else f"{tempo},") + (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,fps={frame.fps},format=yuv420p"
    )
