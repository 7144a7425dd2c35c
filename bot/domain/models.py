"""Value objects shared by the queue store, the player, the engines and the adapters."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any


class LoopMode(StrEnum):
    OFF = "off"
    TRACK = "track"
    QUEUE = "queue"


class SourceKind(StrEnum):
    TELEGRAM = "telegram"
    URL = "url"
    YTDLP = "ytdlp"
    LIBRARY = "library"
    PLAYLIST = "playlist"  # a 24/7 fallback entry


class EndReason(StrEnum):
    FINISHED = "finished"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    AUTO_END = "auto_end"
    ERROR = "error"
    CALL_GONE = "call_gone"


def new_track_id() -> str:
    return uuid.uuid4().hex


#: one encoder for every record: ``json.dumps`` with options builds a new one per call
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Track:
    """One queued item.  ``media`` is what the engine plays: a local path or a URL.

    ``source`` is what the user asked for (kept for history and for re-resolving a URL
    that expired); ``media`` may differ (a downloaded file, a yt-dlp stream URL).
    """

    title: str
    source: str
    media: str
    kind: SourceKind = SourceKind.URL
    duration: float | None = None
    requested_by: int | None = None
    requested_by_name: str = ""
    thumbnail: str | None = None
    is_live: bool = False
    id: str = field(default_factory=new_track_id)

    def to_json(self) -> str:
        # the fields in declaration order, as ``asdict`` gave them, without its deep copy
        return _encode({name: getattr(self, name) for name in _TRACK_FIELDS})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Track:
        data: dict[str, Any] = json.loads(raw)
        data["kind"] = SourceKind(data.get("kind", SourceKind.URL))
        return cls(**data)

    def with_new_id(self) -> Track:
        """A copy for re-queueing (loop-queue, 24/7) so ids stay unique in a queue."""
        return replace(self, id=new_track_id())


_TRACK_FIELDS = tuple(f.name for f in fields(Track))


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """The now-playing slot as stored: enough to resume near where it was after a crash.

    ``position`` is the offset at ``updated_at`` (wall clock, seconds); while not paused the
    live position is ``position + (now - updated_at)``.
    """

    track: Track
    started_at: float
    position: float = 0.0
    updated_at: float = 0.0
    paused: bool = False

    def position_at(self, now: float) -> float:
        if self.paused:
            return self.position
        return self.position + max(0.0, now - self.updated_at)

    def to_json(self) -> str:
        return _encode(
            {
                "track": json.loads(self.track.to_json()),
                "started_at": self.started_at,
                "position": self.position,
                "updated_at": self.updated_at,
                "paused": self.paused,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> NowPlaying:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            track=Track.from_json(json.dumps(data["track"])),
            started_at=float(data["started_at"]),
            position=float(data.get("position", 0.0)),
            updated_at=float(data.get("updated_at", data["started_at"])),
            paused=bool(data.get("paused", False)),
        )
