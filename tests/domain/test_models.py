"""Track records: decoding, and the decodes kept for records read again."""

from __future__ import annotations

import pytest

from bot.domain import models
from bot.domain.models import MediaKind, Track


def test_a_record_read_again_is_not_decoded_again() -> None:
    track = Track(title="Song", source="s", media="m", duration=3.0)
    raw = track.to_json()
    first = Track.from_json(raw)
    assert first == track
    assert Track.from_json(raw.encode().decode()) is first  # read anew, equal: the same Track
    other = Track.from_json(Track(title="Other", source="s", media="m").to_json())
    assert other is not first
    assert other.title == "Other"


def test_a_record_just_written_reads_back_as_the_track_that_wrote_it() -> None:
    track = Track(title="Queued", source="s", media="m", media_kind=MediaKind.VIDEO)
    assert Track.from_json(track.to_json()) is track


def test_a_track_built_from_plain_strings_reads_back_decoded() -> None:
    loose = Track(title="Loose", source="s", media="m", media_kind="video")  # type: ignore[arg-type]
    back = Track.from_json(loose.to_json())
    assert back is not loose
    assert back.media_kind is MediaKind.VIDEO
    assert back.is_video


def test_records_from_before_video_are_audio() -> None:
    raw = '{"id": "x", "title": "Old", "source": "s", "media": "m"}'
    assert Track.from_json(raw).media_kind is MediaKind.AUDIO


def test_the_kept_decodes_are_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "DECODED_KEPT", 3)
    monkeypatch.setattr(models, "_decoded", type(models._decoded)())
    raws = [Track(title=f"t{i}", source="s", media="m").to_json() for i in range(5)]
    decoded = [Track.from_json(raw) for raw in raws]
    assert list(models._decoded) == raws[2:]  # the two oldest went
    assert Track.from_json(raws[4]) is decoded[4]
    assert Track.from_json(raws[0]) is not decoded[0]  # decoded again, equal
    assert Track.from_json(raws[0]) == decoded[0]
