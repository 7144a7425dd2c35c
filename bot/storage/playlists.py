"""Saved playlists (/playlist), per Telegram user, in the database.

A saved track keeps what is needed to play it again later: its title, duration and the
address it came from (a page or media URL, or a library name), never the stream address
it had (that expires; it is resolved again when the track is about to play).  Limits per
user (how many playlists, how many tracks in one) are checked inside the write transaction
that would break them, so two requests at once cannot pass them together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.orm import SavedPlaylist, SavedPlaylistTrack, utcnow
from bot.storage.repos import Repo

#: the first key of the PostgreSQL advisory lock a user's playlist changes take (the
#: second is a hash of the user id): an arbitrary constant of this table's own
ADVISORY_CLASS = 7301
#: a playlist name: one word (the commands split on spaces) of letters, digits, - and _
NAME = re.compile(r"^[\w-]{1,32}$")
MAX_TITLE = 512


class PlaylistError(Exception):
    """A refused playlist change; nothing was changed."""


class BadName(PlaylistError):
    pass


class NoSuchPlaylist(PlaylistError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no playlist named {name}")
        self.name = name


class TooManyPlaylists(PlaylistError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} playlists per user")
        self.limit = limit


class PlaylistFull(PlaylistError):
    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"{name} holds {limit} tracks already")
        self.name = name
        self.limit = limit


class NoSuchEntry(PlaylistError):
    def __init__(self, position: int, length: int) -> None:
        super().__init__(f"no track {position} (the playlist has {length})")
        self.position = position
        self.length = length


@dataclass(frozen=True, slots=True)
class SavedTrack:
    title: str
    source: str
    duration: float | None = None
    is_live: bool = False
    #: saved from a video track: played back as video (in the playing chat's quality)
    video: bool = False


@dataclass(frozen=True, slots=True)
class PlaylistSummary:
    name: str
    tracks: int


@dataclass(frozen=True, slots=True)
class Stored:
    """What a save or an add did: ``added`` tracks stored, ``dropped`` did not fit."""

    name: str
    added: int
    dropped: int
    created: bool


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise BadName(name)
    return name


def _key(name: str) -> str:
    """Names are matched without regard to case: "Road" and "road" are one playlist."""
    return check_name(name).casefold()


class SavedPlaylistRepo(Repo):
    async def summaries(self, user_id: int) -> list[PlaylistSummary]:
        async with self._transaction() as session:
            rows = await session.execute(
                select(SavedPlaylist.name, func.count(SavedPlaylistTrack.id))
                .outerjoin(SavedPlaylistTrack)
                .where(SavedPlaylist.user_id == user_id)
                .group_by(SavedPlaylist.id, SavedPlaylist.name)
                .order_by(SavedPlaylist.key)
            )
            return [PlaylistSummary(str(name), int(count)) for name, count in rows]

    async def tracks(self, user_id: int, name: str) -> tuple[str, list[SavedTrack]]:
        """The playlist's stored name and its tracks in order; NoSuchPlaylist."""
        async with self._transaction() as session:
            playlist = await self._find(session, user_id, name)
            rows = await session.scalars(
                select(SavedPlaylistTrack)
                .where(SavedPlaylistTrack.playlist_id == playlist.id)
                .order_by(SavedPlaylistTrack.id)
            )
            return playlist.name, [_saved(row) for row in rows]

    async def save(
        self,
        user_id: int,
        name: str,
        tracks: Sequence[SavedTrack],
        *,
        max_playlists: int,
        max_tracks: int,
    ) -> Stored:
        """Stores ``tracks`` as the playlist ``name``, replacing its tracks if it exists."""
        async with self._transaction(write=True) as session:
            playlist, created = await self._get_or_create(session, user_id, name, max_playlists)
            await session.execute(
                delete(SavedPlaylistTrack).where(SavedPlaylistTrack.playlist_id == playlist.id)
            )
            kept = list(tracks[:max_tracks])
            session.add_all(_rows(playlist.id, kept))
            playlist.updated_at = utcnow()
            return Stored(playlist.name, len(kept), len(tracks) - len(kept), created)

    async def append(
        self,
        user_id: int,
        name: str,
        tracks: Sequence[SavedTrack],
        *,
        max_playlists: int,
        max_tracks: int,
    ) -> Stored:
        """Adds ``tracks`` at the end (creating the playlist); as many as fit under
        ``max_tracks``; PlaylistFull when not one does."""
        async with self._transaction(write=True) as session:
            playlist, created = await self._get_or_create(session, user_id, name, max_playlists)
            count = await session.scalar(
                select(func.count(SavedPlaylistTrack.id)).where(
                    SavedPlaylistTrack.playlist_id == playlist.id
                )
            )
            room = max(0, max_tracks - int(count or 0))
            if room == 0:
                raise PlaylistFull(playlist.name, max_tracks)
            kept = list(tracks[:room])
            session.add_all(_rows(playlist.id, kept))
            playlist.updated_at = utcnow()
            return Stored(playlist.name, len(kept), len(tracks) - len(kept), created)

    async def delete(self, user_id: int, name: str) -> str:
        """Deletes the playlist; returns its stored name; NoSuchPlaylist."""
        async with self._transaction(write=True) as session:
            await self._lock_user(session, user_id)
            playlist = await self._find(session, user_id, name)
            await session.delete(playlist)
            return playlist.name

    async def remove_track(self, user_id: int, name: str, position: int) -> SavedTrack:
        """Removes the track at 1-based ``position``; NoSuchPlaylist, NoSuchEntry."""
        async with self._transaction(write=True) as session:
            await self._lock_user(session, user_id)
            playlist = await self._find(session, user_id, name)
            rows = list(
                await session.scalars(
                    select(SavedPlaylistTrack)
                    .where(SavedPlaylistTrack.playlist_id == playlist.id)
                    .order_by(SavedPlaylistTrack.id)
                )
            )
            if not 1 <= position <= len(rows):
                raise NoSuchEntry(position, len(rows))
            gone = rows[position - 1]
            await session.delete(gone)
            playlist.updated_at = utcnow()
            return _saved(gone)

    @staticmethod
    async def _find(session: AsyncSession, user_id: int, name: str) -> SavedPlaylist:
        playlist = await session.scalar(
            select(SavedPlaylist).where(
                SavedPlaylist.user_id == user_id, SavedPlaylist.key == _key(name)
            )
        )
        if playlist is None:
            raise NoSuchPlaylist(name)
        return playlist

    @staticmethod
    async def _lock_user(session: AsyncSession, user_id: int) -> None:
        """One writer per user at a time, so a count checked here still holds at commit:
        SQLite's write transactions already run one at a time (BEGIN IMMEDIATE); on
        PostgreSQL (READ COMMITTED) a transaction-scoped advisory lock does it, and also
        keeps two creations of one name from colliding on the unique key."""
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:cls, hashtext(:user))"),
                {"cls": ADVISORY_CLASS, "user": str(user_id)},
            )

    async def _get_or_create(
        self, session: AsyncSession, user_id: int, name: str, max_playlists: int
    ) -> tuple[SavedPlaylist, bool]:
        await self._lock_user(session, user_id)
        try:
            return await self._find(session, user_id, name), False
        except NoSuchPlaylist:
            pass
        owned = await session.scalar(
            select(func.count(SavedPlaylist.id)).where(SavedPlaylist.user_id == user_id)
        )
        if int(owned or 0) >= max_playlists:
            raise TooManyPlaylists(max_playlists) from None
        now = utcnow()
        playlist = SavedPlaylist(
            user_id=user_id, name=name, key=_key(name), created_at=now, updated_at=now
        )
        session.add(playlist)
        await session.flush()
        return playlist, True


def _rows(playlist_id: int, tracks: Sequence[SavedTrack]) -> list[SavedPlaylistTrack]:
    return [
        SavedPlaylistTrack(
            playlist_id=playlist_id,
            title=t.title[:MAX_TITLE],
            source=t.source,
            duration=t.duration,
            is_live=t.is_live,
            video=t.video,
        )
        for t in tracks
    ]


def _saved(row: SavedPlaylistTrack) -> SavedTrack:
    return SavedTrack(row.title, row.source, row.duration, row.is_live, row.video)
