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
