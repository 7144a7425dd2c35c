"""The last stderr line of a failed ffmpeg, as a chat or a log sees it."""

from __future__ import annotations

from bot.ffmpeg import tail_message


def test_the_media_path_is_left_out() -> None:
    err = b"opening\n/srv/media/x.mp3: Invalid data found when processing input\n\n"
    assert (
        tail_message(err, "/srv/media/x.mp3") == "<media>: Invalid data found when processing input"
    )


def test_without_a_media_string_the_line_stands_as_it_is() -> None:
    # a relay has no media of its own: nothing may be inserted between the characters
    assert tail_message(b"dimensions not set\n", "") == "dimensions not set"
    assert tail_message(b"", "") == "ffmpeg failed"
