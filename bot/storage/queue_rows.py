"""Row decoding shared by the SQLite and PostgreSQL halves of the database queue store (and
by the Redis store, whose scripts return the same five slot fields as strings)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bot.domain.models import LoopMode, NowPlaying, Track
from bot.domain.queue import QueueSnapshot

#: where a chat's writes are fenced (several processes): the name of its assistant lease's
#: fence (a Redis counter key, a ``cluster_fences`` row) and the token this process holds,
#: or None when the chat's writes are not fenced (one process)
Fence = Callable[[int], tuple[str, int] | None]

#: the slot's columns in the order ``slot`` reads them
SLOT_COLUMNS = "track_json, started_at, position, updated_at, paused"


def slot(row: Sequence[Any] | None) -> NowPlaying | None:
    """A ``SLOT_COLUMNS`` row (or None) as the domain's NowPlaying."""
    if row is None:
        return None
    track_json, started_at, position, updated_at, paused = row
    return NowPlaying(
        track=Track.from_json(track_json),
        started_at=float(started_at),
        position=float(position),
        updated_at=float(updated_at),
        paused=bool(paused),
    )


def loop_mode(value: str | None) -> LoopMode:
    return LoopMode.OFF if value is None else LoopMode(value)


def with_id(track_json: str, old: str, new: str) -> str:
    """The track's JSON under a new id.  ``"id":"<old>"`` can only be the key itself: inside
    a JSON string every quote is escaped (the Redis scripts rely on the same)."""
    member = f'"id":"{old}"'
    if member not in track_json:
        raise ValueError("track JSON without its id member")
    return track_json.replace(member, f'"id":"{new}"', 1)


def snapshots(
    chat_ids: Sequence[int],
    slots: Iterable[Sequence[Any]],
    entries: Iterable[Sequence[Any]],
    loops: Iterable[Sequence[Any]],
) -> dict[int, QueueSnapshot]:
    """Groups the rows of one batch read: slots are (chat_id, *SLOT_COLUMNS), entries
    (chat_id, track_json) in queue order, loops (chat_id, loop_mode)."""
    current = {int(row[0]): slot(row[1:]) for row in slots}
    pending: dict[int, list[Track]] = {chat_id: [] for chat_id in chat_ids}
    for chat_id, track_json in entries:
        pending[int(chat_id)].append(Track.from_json(track_json))
    modes = {int(chat_id): loop_mode(mode) for chat_id, mode in loops}
    return {
        chat_id: QueueSnapshot(
            current=current.get(chat_id),
            pending=pending[chat_id],
            loop=modes.get(chat_id, LoopMode.OFF),
        )
        for chat_id in chat_ids
    }
