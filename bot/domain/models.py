"""Value objects shared by the queue store, the player, the engines and the adapters."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, overload


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


class MediaKind(StrEnum):
    """What the engine sends into the call: sound only, or picture and sound."""

    AUDIO = "audio"
    VIDEO = "video"


class EndReason(StrEnum):
    FINISHED = "finished"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    AUTO_END = "auto_end"
    ERROR = "error"
    CALL_GONE = "call_gone"


def new_track_id() -> str:
    """32 random hex digits, as ``uuid4().hex`` gave (ids are opaque), without building a
    UUID object: every enqueue and every advance makes one."""
    return os.urandom(16).hex()


#: one encoder for every record: ``json.dumps`` with options builds a new one per call
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Track:
    """One queued item.  ``media`` is what the engine plays: a local path or a URL.

    ``source`` is what the user asked for (kept for history and for re-resolving a URL
    that expired); ``media`` may differ (a downloaded file, a yt-dlp stream URL).  An empty
    ``media`` is an entry not resolved yet (queued from a playlist's listing): the player
    resolves ``source`` when the track is about to play.  ``expires_at`` (wall-clock
    seconds) is when ``media`` stops working, for a site's signed stream URL; None: never.

    ``media_kind`` VIDEO: the engine streams picture too, fitted into ``quality`` (a name
    from ``bot.domain.video.QUALITIES``, chosen when it was queued); ``width``, ``height``
    and ``fps`` describe the source's video stream as probed (None when unknown), and
    ``has_audio`` is False for a silent video, whose end is the end of its picture.  An
    unresolved entry keeps its ``media_kind`` and ``quality`` through its resolving.
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
    media_kind: MediaKind = MediaKind.AUDIO
    quality: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool = True
    #: a separate sound stream for ``media`` (yt-dlp's video-only + audio-only formats)
    audio_media: str | None = None
    id: str = field(default_factory=new_track_id)
    expires_at: float | None = None

    def needs_media(self, now: float, margin: float = 0.0) -> bool:
        """True when ``media`` must be resolved before playing: never resolved, or it
        expires within ``margin`` seconds of ``now``."""
        return not self.media or (self.expires_at is not None and now + margin >= self.expires_at)

    @property
    def is_video(self) -> bool:
        return self.media_kind is MediaKind.VIDEO

    def to_json(self) -> str:
        """The record stored for this track, which ``from_json`` will then hand back without
        parsing it: a record is written to be read back, the queue's next track usually at
        once as it starts (parsing it there was ~12 % of a queue_db cycle in place, though
        7 us alone).  Only a track built with the enums is handed back for its record; one
        built from plain strings would not be what decoding gives."""
        # the fields in declaration order, as ``asdict`` gave them, without its deep copy
        raw = _encode({name: getattr(self, name) for name in _TRACK_FIELDS})
        if type(self.kind) is SourceKind and type(self.media_kind) is MediaKind:
            _remember(raw, self)
        return raw

    @classmethod
    def from_json(cls, raw: str | bytes) -> Track:
        """The track a stored record holds.  The same records are read again and again
        (every /queue, card and page of a chat reads its whole queue), and a Track is
        immutable, so a record decoded recently is handed out again rather than parsed
        (about 7 us each: the JSON and an 18-field frozen dataclass)."""
        track = _decoded.get(raw)
        if track is None:
            data: dict[str, Any] = json.loads(raw)
            data["kind"] = SourceKind(data.get("kind", SourceKind.URL))
            # rows written before video existed have no media kind: they are audio
            data["media_kind"] = MediaKind(data.get("media_kind", MediaKind.AUDIO))
            track = cls(**data)
            _remember(raw, track)
        return track

    def with_new_id(self) -> Track:
        """A copy for re-queueing (loop-queue, 24/7) so ids stay unique in a queue."""
        return replace(self, id=new_track_id())


_TRACK_FIELDS = tuple(f.name for f in fields(Track))
#: records decoded lately (``Track.from_json``): a few busy chats' queues, some MB at worst
DECODED_KEPT = 4096
# ordered: a plain dict's first key is found by scanning past every one deleted before it
_decoded: OrderedDict[str | bytes, Track] = OrderedDict()


def _remember(raw: str | bytes, track: Track) -> None:
    _decoded[raw] = track
    if len(_decoded) > DECODED_KEPT:
        _decoded.popitem(last=False)  # the oldest record goes first


class TrackList(Sequence[Track]):
    """Stored tracks decoded from their JSON one by one, on first access.

    Whole queues are read where only a few of their tracks are looked at (recovery's
    queue_update needs the length and the first titles, ``/queue`` one page), and decoding
    each track's JSON is most of what reading a list costs."""

    __slots__ = ("_raw", "_tracks")

    def __init__(self, raw: Sequence[str | bytes]) -> None:
        self._raw = raw
        self._tracks: list[Track | None] = [None] * len(raw)

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> Track: ...

    @overload
    def __getitem__(self, index: slice) -> list[Track]: ...

    def __getitem__(self, index: int | slice) -> Track | list[Track]:
        if isinstance(index, slice):
            return [self._track(i) for i in range(*index.indices(len(self._raw)))]
        return self._track(index)

    def __iter__(self) -> Iterator[Track]:
        return (self._track(i) for i in range(len(self._raw)))

    def _track(self, index: int) -> Track:
        track = self._tracks[index]  # IndexError, negative indices: as a list's
        if track is None:
            track = self._tracks[index] = Track.from_json(self._raw[index])
        return track

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TrackList({list(self)!r})"


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """The now-playing slot as stored: enough to resume near where it was after a crash.

    ``position`` is the offset at ``updated_at`` (wall clock, seconds), in track time;
    while not paused the live position is ``position + speed * (now - updated_at)``, where
    ``speed`` is the chat's playback speed (the chat setting, not stored here: a speed
    change writes a checkpoint first, so the slot never spans two speeds).
    """

    track: Track
    started_at: float
    position: float = 0.0
    updated_at: float = 0.0
    paused: bool = False

    def position_at(self, now: float, speed: float = 1.0) -> float:
        """Seconds into the track at wall time ``now``, playing at ``speed`` (1.0 for a
        live track, which always plays at normal speed)."""
        if self.paused:
            return self.position
        return self.position + speed * max(0.0, now - self.updated_at)

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
