"""Per-chat choice of engine: a chat that set an RTMP target streams through the RTMP
engine, every other chat through the process's engine (``engine.kind``).

The choice is read when a chat's stream starts (``play`` while the chat holds no stream)
and kept until ``stop``, so a chat switched in the middle of a track finishes it where it
began.  Both engines report to the one handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.engines.base import EventHandler, PlayRequest, VoiceEngine
from bot.sources.tg_messages import MessageReader, ReadsMessages

#: the engine kind a chat asks for ("rtmp", or None for the process default)
EngineChoice = Callable[[int], Awaitable[str | None]]


class EngineRouter:
    name = "router"

    def __init__(self, default: VoiceEngine, others: dict[str, VoiceEngine], choose: EngineChoice):
        self.default = default
        self.others = others
        self._choose = choose
        self._held: dict[int, VoiceEngine] = {}

    def engines(self) -> list[VoiceEngine]:
        return [self.default, *self.others.values()]

    def message_readers(self, chat_id: int | None) -> list[MessageReader]:
        """The assistant accounts behind the routed engines (the RTMP engine has none)."""
        return [
            reader
            for engine in self.engines()
            if isinstance(engine, ReadsMessages)
            for reader in engine.message_readers(chat_id)
        ]

    def engine_of(self, chat_id: int) -> VoiceEngine:
        return self._held.get(chat_id, self.default)

    def set_handler(self, handler: EventHandler) -> None:
        for engine in self.engines():
            engine.set_handler(handler)

    async def start(self) -> None:
        for engine in self.engines():
            await engine.start()

    async def close(self) -> None:
        for engine in self.engines():
            await engine.close()

    async def play(self, request: PlayRequest) -> None:
        engine = self._held.get(request.chat_id)
        if engine is None:
            kind = await self._choose(request.chat_id)
            engine = self.others.get(kind or "", self.default)
        self._held[request.chat_id] = engine
        await engine.play(request)

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        await self.engine_of(chat_id).preload(chat_id, request)

    async def pause(self, chat_id: int) -> None:
        await self.engine_of(chat_id).pause(chat_id)

    async def resume(self, chat_id: int) -> None:
        await self.engine_of(chat_id).resume(chat_id)

    async def stop(self, chat_id: int) -> None:
        engine = self._held.pop(chat_id, None)
        await (engine or self.default).stop(chat_id)

    async def set_volume(self, chat_id: int, volume: int) -> None:
        await self.engine_of(chat_id).set_volume(chat_id, volume)

    async def seek(self, chat_id: int, position: float) -> None:
        await self.engine_of(chat_id).seek(chat_id, position)

    async def position(self, chat_id: int) -> float | None:
        return await self.engine_of(chat_id).position(chat_id)

    async def listeners(self, chat_id: int) -> int | None:
        return await self.engine_of(chat_id).listeners(chat_id)

    def active_chats(self) -> list[int]:
        return [chat for engine in self.engines() for chat in engine.active_chats()]

    async def healthy(self) -> bool:
        results = await asyncio.gather(*(engine.healthy() for engine in self.engines()))
        return all(results)


def engine_name(engine: VoiceEngine, chat_id: int) -> str:
    """The kind of engine that streams (or would stream) ``chat_id``: ``pytgcalls``,
    ``local`` or ``rtmp``; what the dashboard and track_change show as its engine."""
    if isinstance(engine, EngineRouter):
        return engine.engine_of(chat_id).name
    return engine.name
