"""Pictures spliced between real kernel pipes: byte for byte, whole frames only (a cut-off
frame completed with black), stopped between frames, and a closed encoder pipe noticed."""

from __future__ import annotations

import os
import threading

import pytest

from bot.engines.splice import EncoderGone, PictureSplice, enlarge

FRAME = 6000  # a tiny "picture": 4000 luma bytes and 2000 chroma
BLACK = bytes([16]) * 4000 + bytes([128]) * 2000


def frames(*marks: int) -> bytes:
    return b"".join(bytes([m]) * FRAME for m in marks)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def splice_through(data: bytes, *, stop_after: int | None = None) -> tuple[bytes, int, int]:
    """(what reached the encoder's pipe, frames counted, on_frame calls)."""
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    enlarge(src_w)
    calls = 0

    def on_frame() -> None:
        nonlocal calls
        calls += 1

    def stopped() -> bool:
        return stop_after is not None and calls >= stop_after

    splice = PictureSplice(src_r, dst_w, BLACK, stopped=stopped, on_frame=on_frame)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_all(dst_r)))
    reader.start()

    def write_then_close() -> None:
        os.write(src_w, data)
        os.close(src_w)

    writer = threading.Thread(target=write_then_close)
    writer.start()
    splice.run()  # closes src_r
    os.close(dst_w)
    reader.join(10)
    writer.join(10)
    return got[0], splice.frames, calls


def test_whole_frames_pass_byte_for_byte() -> None:
    data = frames(1, 2, 3)
    out, counted, calls = splice_through(data)
    assert out == data
    assert counted == calls == 3


def test_a_cut_off_last_frame_is_completed_with_black() -> None:
    data = frames(7, 8) + bytes([9]) * (FRAME // 2 + 11)
    out, counted, calls = splice_through(data)
    assert len(out) == 3 * FRAME  # never half a frame in the encoder's input
    assert out[: len(data)] == data
    assert out[len(data) :] == BLACK[FRAME // 2 + 11 :]
    assert counted == calls == 3


def test_a_stopped_run_ends_on_a_frame_boundary() -> None:
    out, counted, _ = splice_through(frames(*range(1, 40)), stop_after=2)
    assert len(out) % FRAME == 0
    assert 2 <= counted < 39
    assert len(out) == counted * FRAME


def test_a_closed_encoder_pipe_is_encoder_gone() -> None:
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    os.close(dst_r)  # the encoder died
    os.write(src_w, frames(1))
    splice = PictureSplice(src_r, dst_w, BLACK, stopped=lambda: False, on_frame=lambda: None)
    with pytest.raises(EncoderGone):
        splice.run()
    os.close(src_w)
    os.close(dst_w)
