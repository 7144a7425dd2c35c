from __future__ import annotations

import pytest

from bot.engines.base import MediaError, PlayRequest
from bot.engines.decode import request_inputs


def test_a_request_gives_its_inputs() -> None:
    source, sound = request_inputs(
        PlayRequest(chat_id=1, track_id="t", media="/srv/a/../b.mp4", audio_media="https://x.org/a")
    )
    assert (source.target, source.is_network) == ("/srv/b.mp4", False)
    assert sound is not None
    assert sound.is_network
    assert request_inputs(PlayRequest(chat_id=1, track_id="t", media="/srv/b.mp3"))[1] is None


@pytest.mark.parametrize(
    ("media", "audio_media", "speed", "why"),
    [
        ("concat:/a|/b", None, 1.0, "refused media"),
        ("-i /etc/passwd", None, 1.0, "refused media"),
        ("/srv/b.mp4", "subfile:,,start,0,end,0,,:/etc/passwd", 1.0, "refused media"),
        ("/srv/b.mp3", None, 0.01, "refused speed"),
    ],
)
def test_a_request_no_engine_may_start_is_refused_before_any_process(
    media: str, audio_media: str | None, speed: float, why: str
) -> None:
    request = PlayRequest(
        chat_id=1, track_id="t", media=media, audio_media=audio_media, speed=speed
    )
    with pytest.raises(MediaError, match=why):
        request_inputs(request)
