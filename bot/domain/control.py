"""The player's public face: what the bot and the web sidecar may ask of playback.

Implemented by ``bot.domain.manager.PlayerManager``.  Adapters depend on this protocol, not
on the implementation, so they can be tested against a fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.models import LoopMode, NowPlaying, Track
from bot.domain.stream_stats import StreamStats


class PlayerState(StrEnum):
    IDLE = "idle"
    PLAYING = "playing"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class PlayOutcome:
    """``started``: it plays now; otherwise it was queued at ``position`` (1-based)."""

    track: Track
    started: bool
    position: int


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What ``play_many`` did: the first ``added`` tracks were queued (the rest did not fit),
    the first of them at 1-based ``position``; ``started``: the one of them that plays now
    (None when something else was already playing, or none of them could start)."""

    added: int
    position: int
    started: Track | None


@dataclass(frozen=True, slots=True)
class ChatSnapshot:
    chat_id: int
    state: PlayerState
    now: NowPlaying | None
    position: float | None  # live seconds into the current track (track time)
    pending: Sequence[Track]
    loop: LoopMode
    listeners: int | None
    volume: int
    speed: float = 1.0  # the chat's /speed (a live track plays at 1x whatever it says)


class Players(Protocol):
    """Every method validates, goes through the queue store first, then the engine.

    Raises ``bot.domain.queue.QueueError`` subclasses (queue full, bad position, storage
    unavailable) and ``bot.engines.base.EngineError`` for the adapters to phrase.
    """

    #: running totals (streams, listeners, queued) for the monitoring feed
    stats: StreamStats

    async def play(self, chat_id: int, track: Track) -> PlayOutcome: ...

    async def play_many(self, chat_id: int, tracks: Sequence[Track]) -> BatchOutcome:
        """Queues ``tracks`` in one atomic step (as many as fit), then starts the queue if
        the chat was idle; a track that cannot be played is skipped like any other."""

    async def room(self, chat_id: int) -> int:
        """How many more tracks the chat's queue takes now (0: full): asked before a
        request is fetched, so a full queue costs no probe or download."""

    async def skip(self, chat_id: int) -> NowPlaying | None:
        """Ends the current track; returns what plays next (None: the queue ran out)."""

    async def stop(self, chat_id: int) -> None:
        """Stops playback, leaves the call and clears the chat's queue."""

    async def pause(self, chat_id: int) -> bool:
        """False when nothing was playing."""

    async def resume(self, chat_id: int) -> bool:
        """False when nothing was paused."""

    async def seek(self, chat_id: int, position: float) -> None: ...

    async def set_volume(self, chat_id: int, volume: int) -> None: ...

    async def set_speed(self, chat_id: int, speed: float) -> bool:
        """The chat's tempo (pitch unchanged), stored and applied at once; False when it
        was that already.  Raises ``PlayerError`` BAD_SPEED / LIVE_SPEED."""

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None: ...

    async def shuffle(self, chat_id: int) -> None: ...

    async def remove(self, chat_id: int, position: int) -> Track: ...

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        """Removes the pending track with this id (None: it is no longer pending)."""

    async def move(self, chat_id: int, src: int, dst: int) -> Track: ...

    async def clear(self, chat_id: int) -> int:
        """Empties the pending list; the current track plays on."""

    async def snapshot(self, chat_id: int) -> ChatSnapshot: ...

    async def chats_with_state(self) -> list[int]:
        """Chats the queue store holds a current or pending track for (idle ones too)."""
        ...

    def active_chats(self) -> list[int]: ...

    def may_stream_video(self, chat_id: int) -> bool:
        """False when ``player.max_video_streams`` other chats stream video already."""
