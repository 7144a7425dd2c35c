"""Reading an RTMP track's MPEG-TS as it passes: real ffmpeg output fed in awkward pieces,
and hand-made packets for what ffmpeg will not show quickly (a wrapped clock)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.domain.video import fit
from bot.engines.decode import DecodeJob
from bot.engines.mpegts import PACKET, TICKS, WRAP, NotTransportStream, TsClock
from bot.engines.rtmp_args import track_args
from bot.ffmpeg import ffmpeg_input

SPEC = fit("360p", 640, 360, 25.0)


def encoded(media: Path, *, start: float, has_audio: bool = True) -> bytes:
    job = DecodeJob(ffmpeg_input(str(media)), video=SPEC, has_audio=has_audio)
    args = [a for a in track_args("ffmpeg", job, SPEC, start=start) if a != "-re"]
    return subprocess.run(args, check=True, capture_output=True, timeout=60).stdout


def pes_packet(stream_id: int, pts: int) -> bytes:
    """One TS packet that starts a PES with ``pts`` (a picture: 0xE0, sound: 0xC0)."""
    pid = 0x100 if stream_id >= 0xE0 else 0x101
    header = bytes([0x47, 0x40 | pid >> 8, pid & 0xFF, 0x10])
    stamp = bytes(
        [
            0x21 | (pts >> 29) & 0x0E,
            (pts >> 22) & 0xFF,
            0x01 | (pts >> 14) & 0xFE,
            (pts >> 7) & 0xFF,
            0x01 | (pts << 1) & 0xFE,
        ]
    )
    pes = b"\0\0\1" + bytes([stream_id, 0, 0, 0x80, 0x80, 5]) + stamp
    return (header + pes).ljust(PACKET, b"\xff")


def test_counts_pictures_and_ends_after_the_last(videos: dict[str, Path]) -> None:
    data = encoded(videos["landscape"], start=10.0)
    assert len(data) % PACKET == 0
    clock = TsClock(10.0, SPEC.fps)
    out = b"".join(clock.feed(data[at : at + 1000]) for at in range(0, len(data), 1000))
    assert out == data  # every packet forwarded once, in order, whatever the reads were
    assert clock.pictures == 50  # 2 s at 25 fps
    assert 12.0 <= clock.end() <= 12.1


def test_a_packet_cut_between_reads_waits_for_its_rest(videos: dict[str, Path]) -> None:
    data = encoded(videos["silent"], start=0.0, has_audio=False)
    clock = TsClock(0.0, SPEC.fps)
    assert clock.feed(data[:300]) == data[:PACKET]
    assert clock.feed(data[300:350]) == b""  # 162 bytes of the second packet so far
    assert clock.feed(data[350:]) == data[PACKET:]


def test_nothing_seen_ends_where_it_started() -> None:
    clock = TsClock(7.5, 25)
    assert clock.feed(b"\x47" + bytes(100)) == b""
    assert clock.end() == 7.5
    assert clock.pictures == 0


def test_lost_sync_is_refused() -> None:
    clock = TsClock(0.0, 25)
    with pytest.raises(NotTransportStream):
        clock.feed(pes_packet(0xE0, 0) + b"\x00" * PACKET)


def test_tables_are_not_pictures() -> None:
    table = bytes([0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xB0]).ljust(PACKET, b"\xff")
    clock = TsClock(0.0, 25)
    clock.feed(table + pes_packet(0xE0, 0) + table)
    assert clock.pictures == 1


def test_the_33_bit_clock_wrapping_keeps_time_moving_forward() -> None:
    start = (WRAP - TICKS) / TICKS  # one second before the counter wraps
    clock = TsClock(start, 25)
    clock.feed(pes_packet(0xE0, WRAP - TICKS) + pes_packet(0xC0, WRAP - TICKS))
    clock.feed(pes_packet(0xE0, TICKS // 2) + pes_packet(0xC0, TICKS // 2))  # wrapped
    assert clock.pictures == 2
    assert clock.end() == pytest.approx(WRAP / TICKS + 0.5 + 0.04, abs=0.01)
