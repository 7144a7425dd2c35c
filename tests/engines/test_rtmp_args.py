"""The RTMP push's ffmpeg commands: which input feeds the picture and the sound in each
kind of track, and that every track gets the same encoder settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.video import fit
from bot.engines.decode import DecodeJob
from bot.engines.rtmp_args import encoder_settings, relay_args, track_args
from bot.ffmpeg import ffmpeg_input

FRAME = fit("720p")


def inputs_and_maps(args: list[str]) -> tuple[list[str], list[str]]:
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    maps = [args[i + 1] for i, a in enumerate(args) if a == "-map"]
    return inputs, maps


@pytest.mark.parametrize(
    ("kind", "picture", "sound"),
    [
        ("video with sound", "0:v:0", "0:a:0"),
        ("audio (its cover is not a picture)", "1:v", "0:a:0"),
        ("silent video", "0:v:0", "1:a"),
        ("picture and sound from two sources", "0:v:0", "1:a:0"),
    ],
)
def test_each_kind_of_track_maps_one_picture_and_one_sound(
    kind: str, picture: str, sound: str, videos: dict[str, Path]
) -> None:
    media = ffmpeg_input(str(videos["landscape"]))
    spec = fit("720p", 640, 360, 25.0)
    job = {
        "video with sound": DecodeJob(media, video=spec),
        "audio (its cover is not a picture)": DecodeJob(ffmpeg_input(str(videos["cover"]))),
        "silent video": DecodeJob(media, video=spec, has_audio=False),
        "picture and sound from two sources": DecodeJob(
            media, video=spec, audio_source=ffmpeg_input(str(videos["cover"]))
        ),
    }[kind]
    args = track_args("ffmpeg", job, FRAME, start=12.5)
    inputs, maps = inputs_and_maps(args)
    assert maps == [picture, sound]
    generated = [i for i in inputs if i.startswith(("color=", "anullsrc="))]
    assert ("-shortest" in args) == bool(generated)  # a generated stream ends with the track
    # the push's one set of encoder settings, its clock, MPEG-TS on stdout
    settings = encoder_settings(FRAME)
    at = args.index(settings[0])
    assert args[at : at + len(settings)] == settings
    assert args[args.index("-output_ts_offset") + 1] == "12.500000"
    assert args[-3:] == ["-f", "mpegts", "pipe:1"]


def test_the_relay_copies_into_flv() -> None:
    args = relay_args("ffmpeg", target="rtmp://example.org/live/key")
    assert args[args.index("-c") + 1] == "copy"
    assert args[-1] == "rtmp://example.org/live/key"
    assert args[args.index("-i") + 1] == "pipe:0"
