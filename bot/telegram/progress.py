"""One message that shows the progress of a slow /play (download, probe, search).

It is sent at the first progress report, edited at most every ``min_interval`` seconds, and
finally edited into the answer, so a long download costs the chat a single message.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _


def stage_text(stage: str, fraction: float | None) -> str:
    if stage == "download":
        if fraction is None:
            return _("⏳ Downloading…")
        return _("⏳ Downloading… {percent}%").format(percent=int(fraction * 100))
    if stage == "probe":
        return _("🔎 Checking the file…")
    if stage == "search":
        return _("🔎 Searching…")
    if stage == "list":
        return _("📃 Reading the playlist…")
    return _("⏳ Working…")


class ProgressMessage:
    def __init__(
        self,
        request: Message,
        *,
        min_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = request
        self.min_interval = min_interval
        self._clock = clock
        self.message: Message | None = None
        self._last_at = 0.0
        self._last_text = ""

    async def __call__(self, stage: str, fraction: float | None) -> None:
        await self.note(stage_text(stage, fraction))

    async def note(self, text: str) -> None:
        """Any progress line (a list being queued), at most every ``min_interval``."""
        now = self._clock()
        if text == self._last_text:
            return
        if self.message is not None and now - self._last_at < self.min_interval:
            return
        await self._show(text)
        self._last_at = now

    async def _show(self, text: str) -> None:
        self._last_text = text
        if self.message is None:
            self.message = await self.request.answer(text)
            return
        edited = await self.message.edit_text(text)
        if isinstance(edited, Message):
            self.message = edited

    async def finish(self, text: str) -> None:
        """The final answer: replaces the progress text, or is sent when none was shown."""
        if text != self._last_text:
            await self._show(text)
