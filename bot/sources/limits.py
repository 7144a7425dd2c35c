"""How many /play requests may be fetched at once: per chat and for the whole process.

Each resolve may start an ffprobe, a yt-dlp lookup or a download; without a bound, 150
``/play`` over 30 chats ran 150 ffprobe processes at once.  A chat gets at most
``sources.max_resolves_per_chat`` at a time (one more is answered "busy" at once: a chat
flooding /play waits on nobody), and the process at most ``sources.max_concurrent_resolves``;
a request that finds them all taken waits up to ``sources.resolve_wait_seconds`` for one,
then is answered "busy".  Waiting costs no process, only a parked coroutine, and the
per-chat bound caps how many can park.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bot.sources.base import SourceError


class ResolveGate:
    def __init__(self, *, total: int, per_chat: int, wait_seconds: float) -> None:
        self._slots = asyncio.Semaphore(total)
        self._per_chat = per_chat
        self._wait = wait_seconds
        self._chats: dict[int, int] = {}
        self.running = 0  # resolves holding a process-wide slot now
        self.peak = 0  # the most that ever held one at once

    def in_flight(self, chat_id: int) -> int:
        return self._chats.get(chat_id, 0)

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int | None) -> AsyncIterator[None]:
        """One resolve's right to run; SourceError("busy") when it cannot have one."""
        if chat_id is not None:
            if self._chats.get(chat_id, 0) >= self._per_chat:
                raise SourceError("busy", "this chat's requests are still being fetched")
            self._chats[chat_id] = self._chats.get(chat_id, 0) + 1
        try:
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError:
                raise SourceError("busy", "every fetch slot is taken") from None
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                yield
            finally:
                self.running -= 1
                self._slots.release()
        finally:
            if chat_id is not None:
                left = self._chats[chat_id] - 1
                if left:
                    self._chats[chat_id] = left
                else:
                    del self._chats[chat_id]
