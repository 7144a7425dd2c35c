"""The ffmpeg commands of an RTMP push: one encoder per track, writing h264 + aac in
MPEG-TS on the push's clock, and the one relay per chat that copies them all into the
connection (see ``bot.engines.rtmp`` for why it is split this way)."""

from __future__ import annotations

from bot.domain.video import VideoSpec
from bot.engines.decode import DecodeJob, audio_filter, canvas_filter, pace_args
from bot.ffmpeg import input_args

_QUIET = ["-nostdin", "-hide_banner", "-loglevel", "error"]


def encoder_settings(frame: VideoSpec) -> list[str]:
    """One set for every track of a push (and for the benchmark's bare push): the relay
    copies each track's stream into the same connection, so their parameters must match."""
    gop = str(2 * frame.fps)
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", gop, "-keyint_min", gop, "-b:v", f"{frame_bitrate(frame)}k",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
    ]  # fmt: skip


def frame_bitrate(frame: VideoSpec) -> int:
    """kbit/s for a picture size: about 0.1 bit per pixel per frame, within 500-6000."""
    return max(500, min(6000, frame.width * frame.height * frame.fps // 10_000))


def track_args(ffmpeg: str, job: DecodeJob, frame: VideoSpec, *, start: float) -> list[str]:
    """One track decoded at real-time pace (``-re``, or ``-readrate`` at another speed),
    its picture scaled into ``frame`` (an audio track gets a black one, a silent video
    silence: the connection carries both throughout), encoded and written to stdout as
    MPEG-TS whose clock begins at ``start`` seconds.

    Each sound frame is a PES of its own (``pes_payload_size 0``), so the last one's time
    is where the sound ends; every stream's first packet is marked as a discontinuity, so
    the relay's demuxer takes the join between two tracks for what it is."""
    pace = pace_args(job.speed)
    inputs = [*pace, *input_args(job.source, position=job.position)]
    count = 1
    maps: list[str] = []
    if job.video is not None:
        maps += ["-map", "0:v:0", "-vf", canvas_filter(frame, job.speed)]
    else:
        black = f"color=c=black:s={frame.width}x{frame.height}:r={frame.fps}"
        inputs += ["-re", "-f", "lavfi", "-i", black]
        maps += ["-map", f"{count}:v"]
        count += 1
    if job.has_audio:
        sound = 0
        if job.audio_source is not None:
            inputs += [*pace, *input_args(job.audio_source, position=job.position)]
            sound = count
        maps += ["-map", f"{sound}:a:0", "-af", audio_filter(job.volume, job.speed)]
    else:
        inputs += ["-re", "-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
        maps += ["-map", f"{count}:a"]
    args = [ffmpeg, *_QUIET, *inputs, *maps]
    if job.video is None or not job.has_audio:
        args += ["-shortest"]  # a generated picture or silence lasts as long as the track
    args += encoder_settings(frame)
    args += ["-muxdelay", "0", "-muxpreload", "0", "-pes_payload_size", "0"]
    args += ["-mpegts_flags", "+initial_discontinuity", "-output_ts_offset", f"{start:.6f}"]
    return [*args, "-f", "mpegts", "pipe:1"]


def relay_args(ffmpeg: str, *, target: str) -> list[str]:
    """The one long-lived process of an RTMP chat: MPEG-TS in on stdin (track after
    track), copied unchanged into FLV to ``target``.  It looks at one second of the first
    track before it starts: a picture's PES has no length, so the demuxer hands the first
    one over only when the second begins, and a tenth of a second sometimes ended the look
    before any picture size was known (the relay then fails: "dimensions not set").  The
    default five seconds would hold the stream back that long at every connect.
    """
    return [
        ffmpeg, *_QUIET, "-analyzeduration", "1000000", "-f", "mpegts", "-i", "pipe:0",
        "-map", "0:v", "-map", "0:a", "-c", "copy",
        "-f", "flv", "-flvflags", "no_duration_filesize", target,
    ]  # fmt: skip
