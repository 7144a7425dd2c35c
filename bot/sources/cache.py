"""The Telegram download folder (``sources.cache_dir``): kept only while needed.

A downloaded file stays while some stored queue (the now-playing slot or the pending list of
any chat) names it, or while a /play is still resolving it and a short grace period after
(the few milliseconds until the track is queued).  Everything else of ours is deleted: a
file refused as not audio at once, a file whose track ended, was removed or was cleared at
the next sweep (run after queue changes, at most every ``SWEEP_INTERVAL`` seconds), and
files no stored queue names when the process starts.  The folder's total is bounded by
``sources.cache_max_mb``: before a download, files nobody needs are deleted least recently
used first; when the files still needed leave no room, the download is refused.

Only our own files (``tg-*``, and ``tg-*.part`` downloads in progress) are ever deleted, so
a cache_dir pointed at a folder with other files loses none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.sources.base import SourceError
from bot.tasks import cancel_and_wait

if TYPE_CHECKING:
    from bot.domain.events import EventBus, Subscription
    from bot.storage.queue import QueueStore

log = logging.getLogger(__name__)

PREFIX = "tg-"
PART_SUFFIX = ".part"
#: after a resolve returns, its file is kept this long without being queued (a /play may
#: wait for its chat's lock while a slow transition, such as joining a call, holds it)
GRACE_SECONDS = 60.0
#: sweeps after queue changes run at most this often
SWEEP_INTERVAL = 2.0

#: the media strings of every stored queue (now-playing slots and pending lists)
References = Callable[[], Awaitable[set[str]]]


def store_references(store: QueueStore) -> References:
    async def referenced() -> set[str]:
        media: set[str] = set()
        for chat_id in await store.chats_with_state():
            slot = await store.now_playing(chat_id)
            if slot is not None:
                media.add(slot.track.media)
            media.update(t.media for t in await store.pending(chat_id))
        return media

    return referenced


@dataclass(frozen=True, slots=True)
class _Entry:
    path: Path
    size: int
    used: float  # mtime: set at download, refreshed on every reuse


class DownloadCache:
    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        max_bytes: int,
        references: References,
        clock: Callable[[], float] = time.monotonic,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        # resolved once: queued tracks name their files by resolved absolute path
        self.folder = Path(folder).resolve()
        self.max_bytes = max_bytes
        self._references = references
        self._clock = clock
        self._grace_seconds = grace_seconds
        self._held: dict[Path, int] = {}  # resolves working on the file now
        self._grace: dict[Path, float] = {}  # released, not yet queued: kept until then
        self._due: float | None = None  # when the next grace period ends
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def path_for(self, name: str, suffix: str) -> Path:
        return self.folder / f"{PREFIX}{name}{suffix}"

    # -- holds -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, path: Path) -> Iterator[None]:
        """Keeps ``path`` while a resolve works on it, and the grace period after."""
        self._held[path] = self._held.get(path, 0) + 1
        try:
            yield
        finally:
            left = self._held[path] - 1
            if left:
                self._held[path] = left
            else:
                del self._held[path]
            self._grace[path] = self._clock() + self._grace_seconds

    def discard(self, path: Path) -> None:
        """Deletes a file refused as unplayable, unless another resolve holds it too."""
        if self._held.get(path, 0) > 1:
            return
        self._grace.pop(path, None)
        self._unlink(path)

    def touch(self, path: Path) -> None:
        """Marks a reused file as recently used."""
        with contextlib.suppress(OSError):
            os.utime(path)

    def _kept(self, path: Path, now: float) -> bool:
        if path in self._held:
            return True
        until = self._grace.get(path)
        if until is None:
            return False
        if until > now:
            return True
        del self._grace[path]
        return False

    # -- the folder ------------------------------------------------------------------------

    def _ours(self) -> list[_Entry]:
        entries = []
        try:
            listing = list(os.scandir(self.folder))
        except OSError:
            return []
        for item in listing:
            if not item.name.startswith(PREFIX) or item.name.endswith(PART_SUFFIX):
                continue
            try:
                if not item.is_file(follow_symlinks=False):
                    continue
                stat = item.stat(follow_symlinks=False)
            except OSError:
                continue
            entries.append(_Entry(Path(item.path), stat.st_size, stat.st_mtime))
        return entries

    def total_bytes(self) -> int:
        return sum(e.size for e in self._ours())

    def _unlink(self, path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("cache: could not delete %s: %s", path.name, exc.strerror)
            return False
        return True

    async def _needed(self) -> set[Path] | None:
        """Files some stored queue names; None when the store cannot say (keep all)."""
        try:
            media = await self._references()
        except Exception:
            log.warning("cache: queues unreadable; nothing deleted", exc_info=True)
            return None
        return {Path(m) for m in media if not m.startswith(("http://", "https://"))}

    async def sweep(self, *, at_start: bool = False) -> int:
        """Deletes our files that no stored queue names and no resolve holds; at start also
        left-over partial downloads.  Returns how many files went."""
        async with self._lock:
            entries = self._ours()
            if at_start:
                for part in self.folder.glob(f"{PREFIX}*{PART_SUFFIX}"):
                    self._unlink(part)
            present = {e.path for e in entries}
            for path in [p for p in self._grace if p not in present]:
                del self._grace[path]  # never written (a failed download) or deleted already
            self._due = min(self._grace.values(), default=None)
            if not entries:
                return 0
            needed = await self._needed()
            if needed is None:
                return 0
            now = self._clock()
            removed = 0
            for entry in entries:
                if entry.path in needed:
                    self._grace.pop(entry.path, None)  # queued: the queue keeps it now
                elif not self._kept(entry.path, now):
                    removed += self._unlink(entry.path)
            # a file resolved but not (or no longer) queued is looked at again when its
            # grace ends, even if no queue changes by then
            waiting = [self._grace[e.path] for e in entries if e.path in self._grace]
            self._due = min(waiting, default=None)
            if removed:
                log.info("cache: deleted %d files no queue needs", removed)
            return removed

    async def make_room(self, need: int, keep: Path | None = None) -> None:
        """Deletes files nobody needs, least recently used first, until ``need`` more bytes
        fit under the bound; SourceError("cache_full") when the needed ones leave no room.
        ``keep``: the file being made room for (already counted in the folder, if there)."""
        if need > self.max_bytes:
            raise SourceError("cache_full", f"{need} bytes > the cache's {self.max_bytes}")
        async with self._lock:
            entries = self._ours()
            total = sum(e.size for e in entries)
            if total + need <= self.max_bytes:
                return
            needed = await self._needed()
            if needed is None:  # the store cannot say what is queued: keep every file
                needed = {e.path for e in entries}
            now = self._clock()
            for entry in sorted(entries, key=lambda e: e.used):
                if total + need <= self.max_bytes:
                    return
                if entry.path in needed:
                    self._grace.pop(entry.path, None)
                    continue
                if entry.path == keep or self._kept(entry.path, now):
                    continue
                if self._unlink(entry.path):
                    total -= entry.size
            if total + need > self.max_bytes:
                raise SourceError("cache_full", "queued files fill the cache")

    # -- sweeping after queue changes ------------------------------------------------------

    def watch(self, bus: EventBus) -> None:
        """Sweeps after queue changes (coalesced: at most every ``SWEEP_INTERVAL`` s)."""
        if self._task is None:
            # subscribed now, not when the task first runs: no change in between is missed
            sub = bus.subscribe({"queue_update"}, maxsize=1)
            self._task = asyncio.create_task(self._follow(sub), name="cache-sweeper")

    async def _follow(self, sub: Subscription) -> None:
        try:
            while True:
                due = None if self._due is None else max(0.0, self._due - self._clock())
                try:
                    async with asyncio.timeout(due):
                        await sub.get()
                    await asyncio.sleep(SWEEP_INTERVAL)
                except TimeoutError:
                    pass  # a grace period ended
                while sub.get_nowait() is not None:  # changes meanwhile: this sweep covers them
                    pass
                try:
                    await self.sweep()
                except Exception:
                    log.exception("cache sweep failed")
        finally:
            sub.close()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])
