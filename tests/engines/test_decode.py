from __future__ import annotations

import pytest

from bot.domain.video import VideoSpec
from bot.engines.base import MediaError, PlayRequest
from bot.engines.decode import request_inputs, request_job


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


def test_a_job_starts_where_the_request_says_except_a_live_stream() -> None:
    track = PlayRequest(chat_id=1, track_id="t", media="/srv/b.mp3", volume=80, speed=1.5)
    job = request_job(track, 12.5)
    assert (job.position, job.volume, job.speed, job.has_audio) == (12.5, 80, 1.5, True)
    assert request_job(track, -3.0).position == 0.0
    live = PlayRequest(chat_id=1, track_id="t", media="https://x.org/live", is_live=True, speed=2.0)
    job = request_job(live, 40.0)
    assert (job.position, job.speed) == (0.0, 1.0)  # its live edge, at 1x


def test_a_silent_video_job_has_no_sound() -> None:
    video = VideoSpec(640, 360, 30)
    silent = PlayRequest(chat_id=1, track_id="t", media="/srv/v.mp4", video=video, has_audio=False)
    assert request_job(silent, 0.0).has_audio is False
    sound_only = PlayRequest(chat_id=1, track_id="t", media="/srv/a.mp3", has_audio=False)
    assert request_job(sound_only, 0.0).has_audio is True  # no picture: sound is all it has
