"""Files from the operator's music folder (``sources.library_dir``), found by name.

Names are matched loosely (difflib) because chat members type "/play lib:moonlight" rather
than exact file names.  Nothing outside the folder is ever reachable: the index holds only
regular files whose real path lies inside the folder, so "../", absolute names and symlinks
pointing out are not found rather than checked one by one.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from bot.sources.base import SourceError

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".flac", ".wav", ".wma", ".webm", ".mka"}
)
#: films and clips: /vplay shows them, /play plays their sound
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm"})
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS
#: how alike a typed name and a file name must be (difflib ratio) to count as a match
CUTOFF = 0.55
#: how /play names a library file, and how its Track.source says where it came from
LIBRARY_PREFIX = "lib:"


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    path: Path  # absolute, real
    relative: str  # "folder/name.mp3", as shown and as stored in Track.source

    @property
    def key(self) -> str:
        return _normalise(Path(self.relative).with_suffix("").as_posix())


def _normalise(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


class Library:
    def __init__(self, directory: str) -> None:
        self.root = Path(directory).resolve() if directory else None

    @property
    def enabled(self) -> bool:
        return self.root is not None and self.root.is_dir()

    def _inside(self, path: Path) -> Path | None:
        assert self.root is not None
        try:
            real = path.resolve(strict=True)
        except OSError:
            return None
        return real if real.is_relative_to(self.root) else None

    def entries(self, folder: Path | None = None) -> list[LibraryEntry]:
        """Audio files under ``folder`` (default: the whole library), sorted by path."""
        if not self.enabled:
            return []
        assert self.root is not None
        base = folder or self.root
        found: list[LibraryEntry] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.suffix.lower() not in MEDIA_EXTENSIONS:
                    continue
                real = self._inside(path)
                if real is None or not real.is_file():
                    continue
                found.append(LibraryEntry(real, path.relative_to(self.root).as_posix()))
        return found

    def find(self, name: str, *, cutoff: float = CUTOFF) -> LibraryEntry:
        """The file best matching ``name``; raises SourceError not_found / unavailable.

        With a ``cutoff`` above the default only near-exact names match (no substring
        guess), so plain search words reach the library only when they clearly name a file.
        """
        if not self.enabled:
            raise SourceError("unavailable", "no library configured")
        wanted = _normalise(name.strip().strip("/"))
        if not wanted:
            raise SourceError("empty", "no name")
        entries = self.entries()
        for entry in entries:
            if _normalise(entry.relative) == wanted or entry.key == wanted:
                return entry
        by_key = {entry.key: entry for entry in entries}
        stems = {_normalise(entry.path.stem): entry for entry in entries}
        for table in (by_key, stems):
            close = difflib.get_close_matches(wanted, list(table), n=1, cutoff=cutoff)
            if close:
                return table[close[0]]
        for entry in entries if cutoff <= CUTOFF else ():
            if wanted in entry.key:
                return entry
        raise SourceError("not_found", "no such file in the library")

    def folder(self, name: str) -> list[LibraryEntry] | None:
        """The audio files of a library folder named ``name``, or None if no such folder."""
        if not self.enabled:
            return None
        assert self.root is not None
        cleaned = name.strip().strip("/")
        if not cleaned or Path(cleaned).is_absolute() or ".." in Path(cleaned).parts:
            return None
        real = self._inside(self.root / cleaned)
        if real is None or not real.is_dir():
            return None
        return self.entries(real)
