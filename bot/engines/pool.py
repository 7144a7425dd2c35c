"""Several assistant accounts behind one ``VoiceEngine``: the assistant pool.

One account hits Telegram's limits (flood waits, bans, ``CHANNELS_TOO_MUCH``); the pool
spreads chats over several, each a full engine of its own (its own kurigram client and
PyTgCalls, or a virtual account of the local engine).  The player sees one engine: the
pool picks the chat's account, and when that account cannot serve the chat it moves the
chat to another and starts the same request there, so a move keeps the queue (the player
never notices) and the position (the request carries it).

Assignments live in the database (``AssignmentRepo``): a chat keeps its account across
restarts, and the first writer wins when two tasks place a new chat at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain.errors import ErrorCode
from bot.engines.base import (
    ChannelsTooMuch,
    EngineError,
    EngineEvent,
    EventHandler,
    NotAllowed,
    PlayRequest,
    RateLimited,
    VoiceEngine,
)
from bot.metrics import ASSISTANT_MOVES, ASSISTANT_STREAMS
from bot.sources.tg_messages import MessageReader

log = logging.getLogger(__name__)

#: after CHANNELS_TOO_MUCH an account takes no new chat for this long (it leaves idle ones)
FULL_COOL_DOWN = 300.0
#: reasons a chat leaves its account (the codes of the pool's chat notices)
MOVE_CODES = ("flood_wait", "banned", "not_member", "channels_too_much", "unavailable")

Notice = Callable[[int, str, dict[str, Any]], None]
Unban = Callable[[int, int], Awaitable[bool]]


class PoolMember(VoiceEngine, Protocol):
    """An engine run by one account."""

    @property
    def user_id(self) -> int | None: ...

    async def leave_chat(self, chat_id: int) -> None: ...


class Assignments(Protocol):
    async def get(self, chat_id: int) -> str | None: ...

    async def claim(self, chat_id: int, assistant: str) -> str: ...

    async def move(self, chat_id: int, old: str, new: str) -> bool: ...

    async def release(self, chat_ids: list[int], assistant: str) -> int: ...

    async def chats_of(self, assistant: str) -> list[int]: ...

    async def counts(self) -> dict[str, int]: ...


class NoAssistant(EngineError):
    def __init__(self) -> None:
        super().__init__("no assistant account is available right now", code=ErrorCode.NO_ASSISTANT)


@dataclass(eq=False)
class _Member:
    name: str
    engine: PoolMember
    cool_until: float = 0.0
    started: bool = False
    assigned: int = 0


class AssistantPool:
    """Implements ``VoiceEngine`` over the members; ``assistant_of`` names a chat's account."""

    def __init__(
        self,
        members: list[tuple[str, PoolMember]],
        assignments: Assignments,
        *,
        notice: Notice | None = None,
        unban: Unban | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not members:
            raise ValueError("an assistant pool needs at least one account")
        self._members = {name: _Member(name, engine) for name, engine in members}
        self._assignments = assignments
        self._notice = notice
        self._unban = unban
        self._clock = clock
        self._route: dict[int, str] = {}  # chats with an active stream -> their account
        self._locks: dict[int, asyncio.Lock] = {}
        self._handler: EventHandler | None = None
        self._chores: set[asyncio.Task[None]] = set()
        self.moves = 0
        self.name = members[0][1].name
        for member in self._members.values():
            member.engine.set_handler(self._forwarder(member.name))

    # -- lifecycle -------------------------------------------------------------------------

    def set_handler(self, handler: EventHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        """Starts every account; one that cannot start is left out (a pool of one fails)."""
        counts = await self._assignments.counts()
        results = await asyncio.gather(
            *(m.engine.start() for m in self._members.values()), return_exceptions=True
        )
        for member, result in zip(self._members.values(), results, strict=True):
            member.assigned = counts.get(member.name, 0)
            if isinstance(result, BaseException):
                if len(self._members) == 1:
                    raise result
                log.error("assistant %s cannot start: %s", member.name, result)
            else:
                member.started = True
        if not any(m.started for m in self._members.values()):
            raise NoAssistant()

    async def close(self) -> None:
        for task in list(self._chores):
            task.cancel()
        await asyncio.gather(*(m.engine.close() for m in self._members.values()))

    # -- what the panel and events show ----------------------------------------------------

    def assistant_of(self, chat_id: int) -> str | None:
        return self._route.get(chat_id)

    def message_readers(self, chat_id: int | None) -> list[MessageReader]:
        """The started accounts that read Telegram messages, the chat's own first (it is
        likely a member of the chat the file was posted in)."""
        own = self._route.get(chat_id) if chat_id is not None else None
        ordered = sorted(self._members.values(), key=lambda m: m.name != own)
        readers: list[MessageReader] = []
        for member in ordered:
            reader = getattr(member.engine, "messages", None)
            if member.started and reader is not None:
                readers.append(reader)
        return readers

    def members(self) -> dict[str, VoiceEngine]:
        return {name: m.engine for name, m in self._members.items()}

    def load(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {
            m.name: {
                "active": len(m.engine.active_chats()),
                "assigned": m.assigned,
                "started": m.started,
                "cool_down": max(0.0, round(m.cool_until - now, 1)),
            }
            for m in self._members.values()
        }

    # -- placement -------------------------------------------------------------------------

    async def _usable(self, member: _Member) -> bool:
        return (
            member.started and member.cool_until <= self._clock() and await member.engine.healthy()
        )

    async def _least_loaded(self, exclude: set[str]) -> _Member | None:
        best: tuple[int, int, int] | None = None
        choice = None
        for index, member in enumerate(self._members.values()):
            if member.name in exclude or not await self._usable(member):
                continue
            key = (len(member.engine.active_chats()), member.assigned, index)
            if best is None or key < best:
                best, choice = key, member
        return choice

    async def _assigned(self, chat_id: int) -> _Member:
        """The chat's account: the stored one, or the least-loaded usable one (claimed)."""
        name = self._route.get(chat_id) or await self._assignments.get(chat_id)
        if name in self._members:
            return self._members[name]
        pick = await self._least_loaded(set())
        if pick is None:
            raise NoAssistant()
        if name is None:
            stored = await self._assignments.claim(chat_id, pick.name)
            if stored == pick.name:
                pick.assigned += 1
            if stored in self._members:
                return self._members[stored]
            name = stored
        # assigned to an account no longer configured: take it over
        if await self._assignments.move(chat_id, name, pick.name):
            pick.assigned += 1
        return pick

    async def _move(self, chat_id: int, old: _Member, code: str, tried: set[str]) -> _Member:
        new = await self._least_loaded(tried)
        if new is None:
            raise NoAssistant()
        if self._route.get(chat_id) == old.name:
            self._route.pop(chat_id, None)
            try:
                await old.engine.stop(chat_id)
            except EngineError:
                log.warning("chat %s: leaving the call of %s failed", chat_id, old.name)
        if await self._assignments.move(chat_id, old.name, new.name):
            old.assigned = max(0, old.assigned - 1)
            new.assigned += 1
        else:  # moved by someone else meanwhile: follow the stored assignment
            stored = await self._assignments.get(chat_id)
            if stored in self._members and stored not in tried:
                new = self._members[stored]
        self.moves += 1
        ASSISTANT_MOVES.labels(code).inc()
        self._count(old)
        log.info("chat %s: assistant %s -> %s (%s)", chat_id, old.name, new.name, code)
        if self._notice is not None:
            self._notice(chat_id, code, {"from": old.name, "to": new.name})
        return new

    # -- the VoiceEngine calls -------------------------------------------------------------

    @staticmethod
    def _count(member: _Member) -> None:
        ASSISTANT_STREAMS.labels(member.name).set(len(member.engine.active_chats()))

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    async def play(self, request: PlayRequest) -> None:
        chat_id = request.chat_id
        async with self._lock(chat_id):
            member = await self._assigned(chat_id)
            tried: set[str] = set()
            unbanned: set[str] = set()
            while True:
                if not await self._usable(member):
                    tried.add(member.name)
                    member = await self._move(chat_id, member, "unavailable", tried)
                    continue
                try:
                    await member.engine.play(request)
                except RateLimited as exc:
                    member.cool_until = self._clock() + exc.seconds
                    code = "flood_wait"
                except ChannelsTooMuch:
                    member.cool_until = self._clock() + FULL_COOL_DOWN
                    self._chore(self._leave_idle(member, keep=chat_id))
                    code = "channels_too_much"
                except NotAllowed as exc:
                    if exc.code not in ("banned", "not_member"):
                        raise
                    if exc.code == "banned" and member.name not in unbanned:
                        unbanned.add(member.name)
                        if await self._try_unban(chat_id, member):
                            continue  # the same account again: it joins by invite now
                    code = exc.code
                else:
                    self._route[chat_id] = member.name
                    self._count(member)
                    return
                tried.add(member.name)
                try:
                    member = await self._move(chat_id, member, code, tried)
                except NoAssistant:
                    raise NoAssistant() from None

    async def _try_unban(self, chat_id: int, member: _Member) -> bool:
        user_id = member.engine.user_id
        if self._unban is None or user_id is None:
            return False
        try:
            return await self._unban(chat_id, user_id)
        except Exception as exc:  # the bot is not an admin, or Telegram refused
            log.info("chat %s: cannot unban %s: %s", chat_id, member.name, exc)
            return False

    async def _leave_idle(self, member: _Member, *, keep: int) -> None:
        """Frees room after CHANNELS_TOO_MUCH: leaves the account's chats that are idle
        (not ``keep``, the chat being moved away: the account never got into it)."""
        active = {keep, *member.engine.active_chats()}
        idle = [c for c in await self._assignments.chats_of(member.name) if c not in active]
        left = []
        for chat_id in idle:
            try:
                await member.engine.leave_chat(chat_id)
            except EngineError as exc:
                log.info("assistant %s: leaving %s failed: %s", member.name, chat_id, exc)
                continue
            left.append(chat_id)
        released = await self._assignments.release(left, member.name)
        member.assigned = max(0, member.assigned - released)
        log.info("assistant %s left %d idle chats", member.name, len(left))

    def _chore(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("assistant pool background step failed")

        task = asyncio.create_task(run())
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def settled(self) -> None:
        """Waits for the background steps started so far (leaving idle chats)."""
        while self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)

    def _current(self, chat_id: int) -> VoiceEngine | None:
        name = self._route.get(chat_id)
        return None if name is None else self._members[name].engine

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """To the account playing the chat: the next track plays on it too (a move to
        another account goes through ``play``, which drops the preload)."""
        if (engine := self._current(chat_id)) is not None:
            await engine.preload(chat_id, request)

    async def pause(self, chat_id: int) -> None:
        if (engine := self._current(chat_id)) is not None:
            await engine.pause(chat_id)

    async def resume(self, chat_id: int) -> None:
        if (engine := self._current(chat_id)) is not None:
            await engine.resume(chat_id)

    async def stop(self, chat_id: int) -> None:
        async with self._lock(chat_id):
            name = self._route.pop(chat_id, None)
            if name is not None:
                member = self._members[name]
                await member.engine.stop(chat_id)
                self._count(member)

    async def set_volume(self, chat_id: int, volume: int) -> None:
        if (engine := self._current(chat_id)) is not None:
            await engine.set_volume(chat_id, volume)

    async def seek(self, chat_id: int, position: float) -> None:
        if (engine := self._current(chat_id)) is not None:
            await engine.seek(chat_id, position)

    async def position(self, chat_id: int) -> float | None:
        engine = self._current(chat_id)
        return None if engine is None else await engine.position(chat_id)

    async def listeners(self, chat_id: int) -> int | None:
        engine = self._current(chat_id)
        return None if engine is None else await engine.listeners(chat_id)

    def active_chats(self) -> list[int]:
        return [c for m in self._members.values() for c in m.engine.active_chats()]

    async def healthy(self) -> bool:
        for member in self._members.values():
            if member.started and await member.engine.healthy():
                return True
        return False

    # -- events ----------------------------------------------------------------------------

    def _forwarder(self, name: str) -> EventHandler:
        async def forward(event: EngineEvent) -> None:
            # an account the chat has left may still report on it: only its current one counts
            if self._handler is not None and self._route.get(event.chat_id) == name:
                await self._handler(event)

        return forward
