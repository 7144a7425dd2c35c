"""The chat settings repository: what every command and player reads about its chat, so
its reads are cached and batched (recovery reads ten thousand chats' at once), apart from
the small repositories of ``bot.storage.repos`` that share its base.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.policy import SPEED_MAX, SPEED_MIN, VOLUME_MAX, VOLUME_MIN, valid_speed
from bot.domain.ports import ChatSettings, RtmpTarget
from bot.domain.video import QUALITIES
from bot.storage.chat_move import move_chat_rows
from bot.storage.orm import Chat
from bot.storage.repos import MAX_TITLE, Repo
from bot.storage.settings_cache import DEFAULT_MAX_ENTRIES, SettingsCache

MAX_LANGUAGE = 8  # chats.language is String(8)


def _settings(chat: Chat | None, chat_id: int) -> ChatSettings:
    if chat is None:
        return ChatSettings(chat_id=chat_id)
    minutes = chat.auto_end_minutes
    return ChatSettings(
        chat_id=chat.id,
        language=chat.language,
        admin_only=chat.admin_only,
        auto_end_seconds=None if minutes is None else minutes * 60,
        always_on=chat.always_on,
        playlist_video=chat.playlist_video,
        playlist=tuple(line.strip() for line in chat.playlist.splitlines() if line.strip()),
        volume=chat.volume,
        video_quality=chat.video_quality,
        engine=chat.engine,
        speed=chat.speed,
    )


class ChatSettingsRepo(Repo):
    """``ChatSettingsSource`` plus the setters; a chat without a row has the defaults.

    Reads are served from a ``SettingsCache`` (off unless ``cache_seconds`` > 0); every
    setter here drops the chat's entry, so the process must share ONE instance of this
    repository for its own writes to be seen at once.  Edits made elsewhere show after at
    most ``cache_seconds`` unless the editor calls ``forget``."""

    _GET_MANY_BATCH = 500  # ids per IN (...) query, well under SQLite's variable limit

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = 0,
        cache_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(sessions)
        self.cache = SettingsCache(cache_seconds, max_entries=cache_entries, clock=clock)
        self._reads: dict[int, asyncio.Future[ChatSettings]] = {}

    async def get(self, chat_id: int) -> ChatSettings:
        cached = self.cache.get(chat_id)
        if cached is not None:
            return cached
        if not self.cache.enabled:
            return await self._read(chat_id)
        # A burst of updates for one chat arrives together: one read serves them all
        # (without this every one of them missed the empty cache at once).
        reading = self._reads.get(chat_id)
        if reading is None:
            reading = self._reads[chat_id] = asyncio.ensure_future(self._read(chat_id))
            reading.add_done_callback(self._read_done(chat_id))
        return await asyncio.shield(reading)

    def _read_done(self, chat_id: int) -> Callable[[asyncio.Future[ChatSettings]], None]:
        def done(reading: asyncio.Future[ChatSettings]) -> None:
            if self._reads.get(chat_id) is reading:
                del self._reads[chat_id]
            if not reading.cancelled():
                reading.exception()  # every waiter may have gone: not "never retrieved"

        return done

    async def _read(self, chat_id: int) -> ChatSettings:
        generation = self.cache.generation
        async with self._transaction() as session:
            settings = _settings(await session.get(Chat, chat_id), chat_id)
        self.cache.put(settings, read_at_generation=generation)
        return settings

    async def get_many(self, chat_ids: Iterable[int]) -> dict[int, ChatSettings]:
        """Many chats in a few queries (recovery reads thousands); fills the cache too."""
        found: dict[int, ChatSettings] = {}
        missing: list[int] = []
        for chat_id in dict.fromkeys(chat_ids):
            cached = self.cache.get(chat_id)
            if cached is None:
                missing.append(chat_id)
            else:
                found[chat_id] = cached
        for start in range(0, len(missing), self._GET_MANY_BATCH):
            batch = missing[start : start + self._GET_MANY_BATCH]
            generation = self.cache.generation
            async with self._transaction() as session:
                rows = await session.scalars(select(Chat).where(Chat.id.in_(batch)))
                by_id = {chat.id: chat for chat in rows}
            for chat_id in batch:
                settings = found[chat_id] = _settings(by_id.get(chat_id), chat_id)
                self.cache.put(settings, read_at_generation=generation)
        return found

    def forget(self, chat_id: int) -> None:
        """For writers that bypass this repository (the admin panel).  A read already in
        flight may predate the write: later callers start their own."""
        self.cache.forget(chat_id)
        self._reads.pop(chat_id, None)

    @asynccontextmanager
    async def _changing(self, chat_id: int) -> AsyncIterator[AsyncSession]:
        try:
            async with self._transaction(write=True) as session:
                yield session
        finally:  # after the commit (or a failure whose outcome is unknown)
            self.forget(chat_id)

    async def ensure_chat(self, chat_id: int, title: str, username: str | None = None) -> None:
        """Records the chat's title and public @username (None: a private chat)."""
        async with self._changing(chat_id) as session:
            await self._upsert_chat(
                session,
                chat_id,
                title=title[:MAX_TITLE],
                username=username[:64] if username else None,
            )

    async def move_chat(self, old: int, new: int) -> bool:
        """A group upgraded to a supergroup: its rows follow it (``bot.storage.chat_move``);
        False when the old chat had none."""
        try:
            async with self._changing(old) as session:
                return await move_chat_rows(session, old, new)
        finally:
            self.forget(new)

    async def list_chats(self) -> list[Chat]:
        async with self._transaction() as session:
            return list((await session.scalars(select(Chat).order_by(Chat.id))).all())

    async def set_language(self, chat_id: int, language: str | None) -> None:
        """None: the configured default locale."""
        if language is not None and not 2 <= len(language) <= MAX_LANGUAGE:
            raise ValueError(f"language must be a locale code of 2 to {MAX_LANGUAGE} letters")
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, language=language)

    async def set_admin_only(self, chat_id: int, admin_only: bool) -> None:
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, admin_only=admin_only)

    async def set_auto_end_minutes(self, chat_id: int, minutes: int | None) -> None:
        """None: the configured default; 0: never end by itself."""
        if minutes is not None and minutes < 0:
            raise ValueError("auto-end minutes must be 0 or more")
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, auto_end_minutes=minutes)

    async def set_always_on(self, chat_id: int, always_on: bool) -> None:
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, always_on=always_on)

    async def set_playlist(self, chat_id: int, entries: Sequence[str]) -> None:
        """One entry per line (URL, library name or folder); blank entries dropped."""
        text = "\n".join(entry.strip() for entry in entries if entry.strip())
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, playlist=text)

    async def set_playlist_video(self, chat_id: int, video: bool) -> None:
        """The 24/7 playlist plays picture and sound (True) or sound only, from its next
        track on (the track playing now keeps its kind)."""
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, playlist_video=video)

    async def set_video_quality(self, chat_id: int, quality: str | None) -> None:
        """None: the configured player.video_quality."""
        if quality is not None and quality not in QUALITIES:
            raise ValueError(f"video quality must be one of {', '.join(QUALITIES)}")
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, video_quality=quality)

    async def set_rtmp(self, chat_id: int, url: str, key: str) -> None:
        """The chat streams to ``url`` with stream key ``key`` from its next start."""
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, engine="rtmp", rtmp_url=url, rtmp_key=key)

    async def clear_rtmp(self, chat_id: int) -> None:
        """Back to the configured engine; the key is erased, not kept."""
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, engine=None, rtmp_url="", rtmp_key="")

    async def rtmp_target(self, chat_id: int) -> RtmpTarget | None:
        """The chat's RTMP URL and key (read each time, never cached with the settings)."""
        async with self._transaction() as session:
            chat = await session.get(Chat, chat_id)
        if chat is None or not chat.rtmp_url or not chat.rtmp_key:
            return None
        return RtmpTarget(chat.rtmp_url, chat.rtmp_key)

    async def engine_choice(self, chat_id: int) -> str | None:
        return (await self.get(chat_id)).engine

    async def set_volume(self, chat_id: int, volume: int) -> None:
        if not VOLUME_MIN <= volume <= VOLUME_MAX:
            raise ValueError(f"volume must be between {VOLUME_MIN} and {VOLUME_MAX}")
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, volume=volume)

    async def set_speed(self, chat_id: int, speed: float) -> None:
        if not valid_speed(speed):
            raise ValueError(f"speed must be between {SPEED_MIN} and {SPEED_MAX}")
        async with self._changing(chat_id) as session:
            await self._upsert_chat(session, chat_id, speed=speed)
