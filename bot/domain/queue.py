"""The queue store contract: one interface, a Redis and a database implementation.

Every method is a single atomic step against the backend, so a crash between any two calls
leaves each track in exactly one place (the pending list or the now-playing slot).  The
store, not the process, is the truth: the player re-reads it after a restart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.errors import ErrorCode, SattvaError
from bot.domain.models import LoopMode, NowPlaying, Track


class QueueError(SattvaError):
    """Base of the store's expected failures (each maps to a short chat answer)."""

    def __init__(
        self, message: str = "", *, code: ErrorCode = ErrorCode.QUEUE_ERROR, **params: int
    ) -> None:
        super().__init__(code, message, **params)


class QueueFull(QueueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"queue is full ({limit} tracks)", code=ErrorCode.QUEUE_FULL, limit=limit)
        self.limit = limit


class QueuePositionError(QueueError):
    """A 1-based position outside the pending list."""

    def __init__(self, position: int, length: int) -> None:
        super().__init__(
            f"no track at position {position} (queue has {length})",
            code=ErrorCode.NO_SUCH_TRACK,
            position=position,
            length=length,
        )
        self.position = position
        self.length = length


class Fenced(QueueError):
    """The chat's assistant has a newer holder (another process took it over): this
    process's lease is stale and the write was refused.  Nothing was changed."""

    def __init__(self) -> None:
        super().__init__("the chat is served by another process now", code=ErrorCode.FENCED)


class StorageUnavailable(QueueError):
    """The backend did not answer (Redis down, database gone).  Nothing was changed."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message, code=ErrorCode.STORAGE_UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class AdvanceResult:
    """What ``advance`` did.  ``advanced`` is False when the caller's id was stale."""

    advanced: bool
    finished: Track | None
    current: NowPlaying | None


@dataclass(frozen=True, slots=True)
class EnqueuedBatch:
    """What ``enqueue_many`` did: ``added`` tracks (the longest prefix of the batch that fit
    under the limit) now stand at 1-based ``first`` .. ``first + added - 1`` of pending."""

    first: int
    added: int


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One chat's whole queue state, as ``load_many`` reads it for recovery."""

    current: NowPlaying | None
    pending: Sequence[Track]  # a TrackList decodes only what is looked at
    loop: LoopMode


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One ``checkpoint`` call's arguments, for ``checkpoint_many``."""

    chat_id: int
    track_id: str
    position: float
    paused: bool
    now: float


class QueueStore(Protocol):
    async def enqueue(self, chat_id: int, track: Track, *, limit: int) -> int:
        """Appends to the pending list; returns its 1-based position there.

        Raises QueueFull when pending already holds ``limit`` tracks.
        """

    async def enqueue_many(
        self, chat_id: int, tracks: Sequence[Track], *, limit: int
    ) -> EnqueuedBatch:
        """Appends the longest prefix of ``tracks`` that fits under ``limit``, in one atomic
        step: a crash leaves all of that prefix queued or none of it.

        The limit is checked for the batch as a whole against one reading of the length, so
        a batch racing single enqueues never overfills the queue.  It truncates rather than
        refuses (a 50-track playlist on a queue with room for 20 queues its first 20); it
        raises QueueFull only when not one track fits, and ValueError for an empty batch.
        """

    async def start_next(self, chat_id: int, *, now: float) -> NowPlaying | None:
        """Fills an empty now-playing slot from the head of pending.

        Idempotent: when the slot is occupied it returns the occupant unchanged.  None when
        both are empty.
        """

    async def advance(
        self, chat_id: int, expected_track_id: str, *, now: float, natural: bool
    ) -> AdvanceResult:
        """Ends the track in the slot and fills the slot according to the loop mode.

        A no-op (``advanced=False``) unless the slot holds ``expected_track_id``: stream
        ends can be reported twice.  Loop ``track`` replays the track (under a new id) only
        when ``natural``; loop ``queue`` appends the finished track (new id) to pending.
        """

    async def now_playing(self, chat_id: int) -> NowPlaying | None: ...

    async def pending(self, chat_id: int) -> list[Track]: ...

    async def pending_and_loop(self, chat_id: int) -> tuple[list[Track], LoopMode]:
        """``pending`` and ``get_loop`` read together, in one round trip: the player
        publishes both after every queue change (and for every chat at recovery)."""
        ...

    async def length(self, chat_id: int) -> int:
        """Number of pending tracks (the slot not counted)."""

    async def remove(self, chat_id: int, position: int) -> Track:
        """Removes the pending track at 1-based ``position``; QueuePositionError if none."""

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        """Removes the pending track with this id, wherever it is now; None (and no
        change) when it is not pending.  One atomic step: a caller naming a track it saw
        earlier can never take out a neighbour that moved into its position meanwhile."""

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        """Moves the pending track at ``src`` so that it ends up at ``dst`` (1-based)."""

    async def shuffle(self, chat_id: int, rng: random.Random | None = None) -> None: ...

    async def clear(self, chat_id: int, *, include_current: bool) -> int:
        """Empties pending (and the slot too when ``include_current``); returns the count."""

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None: ...

    async def get_loop(self, chat_id: int) -> LoopMode: ...

    async def checkpoint(
        self, chat_id: int, track_id: str, *, position: float, paused: bool, now: float
    ) -> bool:
        """Records the playing position; False (and no change) if the slot moved on."""

    async def checkpoint_many(self, items: Sequence[Checkpoint]) -> int:
        """``checkpoint`` for many chats in one round trip (recovery resumes thousands);
        returns how many were written (a stale one is skipped, as ``checkpoint`` would)."""

    async def chats_with_state(self) -> list[int]:
        """Chats with a now-playing track or pending tracks: what to recover at start."""

    async def load_many(self, chat_ids: Sequence[int]) -> dict[int, QueueSnapshot]:
        """Slot, pending and loop mode of every listed chat, read together (a pipeline on
        Redis, one query per table in SQL): recovery reads thousands of chats at start and
        one round trip per chat was most of its time.  Every listed chat is in the result."""

    async def ping(self) -> None:
        """Raises StorageUnavailable when the backend does not answer."""

    async def close(self) -> None: ...
