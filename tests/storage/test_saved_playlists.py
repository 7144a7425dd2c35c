"""Saved playlists on SQLite and PostgreSQL: names without regard to case, order kept, the
per-user limits held inside the transaction (requests at once cannot pass them together)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.database import create_engine, migrate, session_factory
from bot.storage.playlists import (
    BadName,
    NoSuchEntry,
    NoSuchPlaylist,
    PlaylistFull,
    PlaylistSummary,
    SavedPlaylistRepo,
    SavedTrack,
    Stored,
    TooManyPlaylists,
)

USER, OTHER = 10**15 + 7, 42


def songs(*titles: str) -> list[SavedTrack]:
    """Every other one saved from /vplay (a video), so the flag is kept too."""
    return [
        SavedTrack(t, f"https://music.example/{t}", 60.0 + i, video=i % 2 == 1)
        for i, t in enumerate(titles)
    ]


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[SavedPlaylistRepo]:
    engine: AsyncEngine = create_engine(database_url)
    await migrate(engine)
    yield SavedPlaylistRepo(session_factory(engine))
    await engine.dispose()


async def test_save_show_add_remove_and_delete(repo: SavedPlaylistRepo) -> None:
    stored = await repo.save(USER, "Road", songs("a", "b"), max_playlists=5, max_tracks=10)
    assert stored == Stored("Road", added=2, dropped=0, created=True)
    assert await repo.tracks(USER, "road") == ("Road", songs("a", "b"))  # any case
    added = await repo.append(USER, "ROAD", songs("c"), max_playlists=5, max_tracks=10)
    assert added == Stored("Road", added=1, dropped=0, created=False)
    assert [t.title for t in (await repo.tracks(USER, "Road"))[1]] == ["a", "b", "c"]
    assert (await repo.remove_track(USER, "road", 2)).title == "b"
    assert [t.title for t in (await repo.tracks(USER, "Road"))[1]] == ["a", "c"]
    with pytest.raises(NoSuchEntry) as info:
        await repo.remove_track(USER, "road", 3)
    assert (info.value.position, info.value.length) == (3, 2)
    # save replaces the tracks of an existing playlist
    again = await repo.save(USER, "road", songs("x"), max_playlists=5, max_tracks=10)
    assert again == Stored("Road", added=1, dropped=0, created=False)
    assert await repo.summaries(USER) == [PlaylistSummary("Road", 1)]
    assert await repo.summaries(OTHER) == []
    with pytest.raises(NoSuchPlaylist):
        await repo.tracks(OTHER, "Road")  # another user's playlist is not yours
    assert await repo.delete(USER, "road") == "Road"
    assert await repo.summaries(USER) == []
    with pytest.raises(NoSuchPlaylist):
        await repo.delete(USER, "road")


async def test_names_are_one_word(repo: SavedPlaylistRepo) -> None:
    for bad in ("", "two words", "x" * 33, "semi;colon", "../up"):
        with pytest.raises(BadName):
            await repo.save(USER, bad, songs("a"), max_playlists=5, max_tracks=10)
    stored = await repo.save(USER, "Дорога-2", songs("a"), max_playlists=5, max_tracks=10)
    assert stored.name == "Дорога-2"
    assert (await repo.tracks(USER, "дорога-2"))[0] == "Дорога-2"


async def test_length_limit_truncates_then_refuses(repo: SavedPlaylistRepo) -> None:
    stored = await repo.save(USER, "p", songs("a", "b", "c"), max_playlists=5, max_tracks=2)
    assert (stored.added, stored.dropped) == (2, 1)
    with pytest.raises(PlaylistFull) as info:
        await repo.append(USER, "p", songs("d"), max_playlists=5, max_tracks=2)
    assert (info.value.name, info.value.limit) == ("p", 2)
    await repo.remove_track(USER, "p", 1)
    assert (await repo.append(USER, "p", songs("d", "e"), max_playlists=5, max_tracks=2)) == (
        Stored("p", added=1, dropped=1, created=False)
    )


async def test_count_limit_holds_for_requests_at_once(repo: SavedPlaylistRepo) -> None:
    async def create(n: int) -> bool:
        try:
            await repo.append(USER, f"p{n}", songs("a"), max_playlists=3, max_tracks=10)
        except TooManyPlaylists:
            return False
        return True

    created = await asyncio.gather(*(create(n) for n in range(8)))
    assert sum(created) == 3
    assert len(await repo.summaries(USER)) == 3
    # an existing one can still be changed; another user has their own count
    await repo.append(USER, next(s.name for s in await repo.summaries(USER)), songs("b"),
                      max_playlists=3, max_tracks=10)  # fmt: skip
    await repo.save(OTHER, "mine", songs("a"), max_playlists=3, max_tracks=10)
    with pytest.raises(TooManyPlaylists) as info:
        await repo.save(USER, "one-more", songs("a"), max_playlists=3, max_tracks=10)
    assert info.value.limit == 3
