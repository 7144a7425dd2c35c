"""TrackList: a stored queue's tracks decoded on first access, behaving as a list would."""

from __future__ import annotations

import pytest

from bot.domain.models import Track, TrackList


def tracks(n: int) -> list[Track]:
    return [
        Track(title=f"t{i}", source=f"s{i}", media=f"m{i}", duration=float(i)) for i in range(n)
    ]


def test_decodes_only_the_tracks_looked_at() -> None:
    stored = tracks(9)
    raw = [t.to_json() for t in stored]
    raw[8] = "not json"  # never looked at, so never decoded
    lazy = TrackList(raw)
    assert len(lazy) == 9
    assert lazy[0] == stored[0]
    assert [t.title for t in lazy[:5]] == ["t0", "t1", "t2", "t3", "t4"]
    assert lazy[-2] == stored[7]
    assert lazy[0] is lazy[0]  # decoded once
    with pytest.raises(ValueError, match="Expecting value"):
        lazy[8]


def test_compares_and_iterates_as_the_list_it_stands_for() -> None:
    stored = tracks(3)
    lazy = TrackList([t.to_json() for t in stored])
    assert lazy == stored
    assert stored == lazy
    assert lazy != stored[:2]
    assert list(lazy) == stored
    assert lazy[1:] == stored[1:]
    assert TrackList([]) == []
    assert not TrackList([])
    with pytest.raises(IndexError):
        lazy[3]
