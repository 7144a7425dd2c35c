"""YouTube cookies for yt-dlp (``sources.ytdlp_cookies``): one Netscape cookies file, or a
folder of them, one chosen per request.

From a server's address YouTube soon answers every lookup with "Sign in to confirm you're
not a bot"; a logged-in account's cookies get past it.  Several files spread the requests
over several accounts: each request takes the file that failed least recently (never
failed first), and among equals the one used least recently, so they take turns.

A file YouTube rejects is set aside: yt-dlp warns that its account cookies "are no longer
valid" (YouTube rotated them), or it could not be read as a cookies file, or the bot check
came back ``SET_ASIDE_AFTER`` times in a row with it.  It stays aside until the file
changes (its size or modification time), so an operator brings it back by exporting it
again.  What is set aside, and why, is written to a small state file in the cache folder,
where ``python -m bot check`` reads it; the web dashboard asks this object directly.

The files are only read: yt-dlp gets the cookies loaded into its jar, not the file name,
so it never writes its session changes back over the operator's export.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import SourcesConfig
from bot.metrics import YTDLP_COOKIE_FILES

log = logging.getLogger(__name__)

#: bot checks in a row with one file before it is set aside
SET_ASIDE_AFTER = 3
#: the state file's name inside ``sources.cache_dir``
STATE_NAME = "ytdlp-cookies.json"
#: a folder's files larger than this are not cookie exports: skipped
MAX_FILE_BYTES = 4 * 1024 * 1024
#: first lines of the files yt-dlp and browsers' export extensions write
HEADERS = ("# Netscape HTTP Cookie File", "# HTTP Cookie File")


@dataclass(frozen=True, slots=True)
class CookieStatus:
    name: str
    usable: bool
    reason: str  # why it is set aside ("" when usable)
    since: float | None  # wall-clock time it was set aside


@dataclass(slots=True)
class _File:
    path: Path
    stamp: tuple[int, int]  # (size, mtime_ns): a change brings a set-aside file back
    used: float = 0.0
    failed: float = 0.0
    strikes: int = 0
    aside: str = ""
    aside_since: float | None = None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def looks_like_cookies(path: Path) -> str:
    """Why ``path`` is not a Netscape cookies file ("" when it is one)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            first = f.readline().strip()
            rest = f.read(MAX_FILE_BYTES)
    except OSError as exc:
        return f"cannot be read ({exc.__class__.__name__})"
    if not first.startswith(HEADERS):
        return "not a Netscape cookies file (its first line must be '# Netscape HTTP Cookie File')"
    rows = [line for line in rest.splitlines() if line.strip() and not line.startswith("# ")]
    if not any(len(line.split("\t")) == 7 for line in rows):
        return "holds no cookie lines"
    return ""


def cookie_files(location: str) -> list[Path]:
    """The cookie files ``location`` names: itself, or the regular files of the folder."""
    if not location:
        return []
    path = Path(location)
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.stat().st_size <= MAX_FILE_BYTES
        )
    return [path]


def cookie_state_file(sources: SourcesConfig) -> Path:
    """Where the set-aside verdicts are kept: the bot's own cache folder."""
    return Path(sources.cache_dir) / STATE_NAME


def read_state(state_file: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class CookieJars:
    """The files of ``sources.ytdlp_cookies``; thread-safe (yt-dlp runs in worker threads)."""

    def __init__(
        self,
        location: str,
        *,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.location = location
        self._state_file = state_file
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._files: dict[Path, _File] = {}
        self._restore()

    @property
    def enabled(self) -> bool:
        return bool(self.location)

    def _restore(self) -> None:
        """Files set aside before a restart stay aside while they are unchanged."""
        if self._state_file is None:
            return
        for name, entry in read_state(self._state_file).items():
            path = Path(name)
            stamp = _stamp(path)
            if stamp is None or list(stamp) != entry.get("stamp"):
                continue
            self._files[path] = _File(
                path,
                stamp,
                aside=str(entry.get("reason", "set aside")),
                aside_since=entry.get("since"),
            )

    def _refresh(self) -> None:
        """Re-reads the folder: new files join, removed ones go, changed ones come back."""
        present: dict[Path, _File] = {}
        for path in cookie_files(self.location):
            stamp = _stamp(path)
            if stamp is None:
                continue
            known = self._files.get(path)
            if known is None or known.stamp != stamp:
                known = _File(path, stamp)
                problem = looks_like_cookies(path)
                if problem:
                    self._set_aside(known, problem)
            present[path] = known
        changed = present.keys() != self._files.keys()
        self._files = present
        if changed:
            self._save()
        self._publish()

    def _publish(self) -> None:
        aside = sum(1 for f in self._files.values() if f.aside)
        YTDLP_COOKIE_FILES.labels(state="usable").set(len(self._files) - aside)
        YTDLP_COOKIE_FILES.labels(state="set_aside").set(aside)

    def choose(self) -> Path | None:
        """The file for the next request (None: no usable file)."""
        if not self.enabled:
            return None
        with self._lock:
            self._refresh()
            usable = [f for f in self._files.values() if not f.aside]
            if not usable:
                return None
            pick = min(usable, key=lambda f: (f.failed, f.used, str(f.path)))
            pick.used = self._clock()
            return pick.path

    def _entry(self, path: Path) -> _File | None:
        if path not in self._files:
            self._refresh()
        return self._files.get(path)

    def succeeded(self, path: Path) -> None:
        with self._lock:
            entry = self._entry(path)
            if entry is not None:
                entry.strikes = 0

    def bot_check(self, path: Path) -> None:
        """YouTube asked to confirm "not a bot" although this file's cookies were sent."""
        with self._lock:
            entry = self._entry(path)
            if entry is None:
                return
            entry.failed = self._clock()
            entry.strikes += 1
            if entry.strikes >= SET_ASIDE_AFTER:
                self._set_aside(
                    entry, f"YouTube asked to confirm 'not a bot' {entry.strikes} times in a row"
                )

    def reject(self, path: Path, reason: str) -> None:
        """YouTube (or the cookie loader) refused this file: aside until it changes."""
        with self._lock:
            entry = self._entry(path)
            if entry is not None and not entry.aside:
                entry.failed = self._clock()
                self._set_aside(entry, reason)

    def _set_aside(self, entry: _File, reason: str) -> None:
        entry.aside = reason
        entry.aside_since = self._wall()
        log.warning("yt-dlp cookies %s set aside: %s", entry.path.name, reason)
        self._save()
        self._publish()

    def _save(self) -> None:
        if self._state_file is None:
            return
        data = {
            str(f.path): {"stamp": list(f.stamp), "reason": f.aside, "since": f.aside_since}
            for f in self._files.values()
            if f.aside
        }
        try:
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._state_file.with_name(f".{self._state_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            tmp.replace(self._state_file)
        except OSError as exc:
            log.warning("cannot write %s: %s", self._state_file, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def status(self) -> list[CookieStatus]:
        """Every file and whether it is in use (the dashboard and the metric)."""
        if not self.enabled:
            return []
        with self._lock:
            self._refresh()
            return [
                CookieStatus(f.path.name, not f.aside, f.aside, f.aside_since)
                for f in sorted(self._files.values(), key=lambda f: str(f.path))
            ]

    def report(self) -> list[dict[str, Any]]:
        """``status`` as JSON for the dashboard."""
        return [
            {"name": s.name, "usable": s.usable, "reason": s.reason, "since": s.since}
            for s in self.status()
        ]


def cookie_verdict(location: str, state_file: Path) -> tuple[bool, str]:
    """``python -m bot check``'s line: each file's state, set-aside ones with their reason."""
    if not location:
        return True, "not configured: yt-dlp asks YouTube without cookies"
    path = Path(location)
    if not path.exists():
        return False, f"{location} does not exist"
    files = cookie_files(location)
    if not files:
        return False, f"{location} holds no cookie files"
    state = read_state(state_file)
    bad: list[str] = []
    for file in files:
        problem = looks_like_cookies(file)
        entry = state.get(str(file))
        stamp = _stamp(file)
        unchanged = entry is not None and stamp is not None and list(stamp) == entry.get("stamp")
        if not problem and entry is not None and unchanged:
            problem = f"set aside: {entry.get('reason', '')}"
        if problem:
            bad.append(f"{file.name}: {problem}")
    usable = len(files) - len(bad)
    detail = f"{usable} of {len(files)} cookie file(s) usable"
    if bad:
        detail += "; " + "; ".join(bad)
    return usable > 0 and not bad, detail
