"""The assistant pool of one cluster node: only the accounts this node holds a lease on run.

Telegram invalidates a session used in two places (``AuthKeyDuplicated``), so in a cluster
an account's client may run only in the node that holds the account's lease.  Every node
configures every account; this pool starts none of them at start-up and runs an account
between ``attach`` (its lease was taken) and ``detach`` (the lease is gone or given back).

A chat whose account this node does not run is not moved to one it does (as a one-process
pool would do with an account that is down): the chat belongs to the node that holds its
account, so ``play`` refuses it with ``NotHeldHere``.  Moves between the accounts this node
runs (flood wait, ban, channel limit) work as in the one-process pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.domain.errors import ErrorCode
from bot.engines.base import EngineError
from bot.engines.pool import Assignments, AssistantPool, Notice, PoolMember, Unban, _Member

log = logging.getLogger(__name__)

#: builds a fresh engine for an account (a closed client is not started again)
MemberFactory = Callable[[str], PoolMember]


class NotHeldHere(EngineError):
    """The chat's account runs in another node (or in none, between two holders)."""

    def __init__(self, assistant: str) -> None:
        super().__init__(
            f"assistant {assistant} is not held by this process", code=ErrorCode.FENCED
        )
        self.assistant = assistant


class LeasedPool(AssistantPool):
    """``AssistantPool`` whose members run only while ``attach``-ed."""

    def __init__(
        self,
        names: list[str],
        make_member: MemberFactory,
        assignments: Assignments,
        *,
        notice: Notice | None = None,
        unban: Unban | None = None,
    ) -> None:
        super().__init__(
            [(name, make_member(name)) for name in names],
            assignments,
            notice=notice,
            unban=unban,
        )
        self._make_member = make_member
        self._fresh = set(names)  # members whose engine was never started

    async def start(self) -> None:
        """Starts nothing: accounts start when their lease is taken (``attach``)."""
        counts = await self._assignments.counts()
        for member in self._members.values():
            member.assigned = counts.get(member.name, 0)

    def held(self) -> list[str]:
        return sorted(m.name for m in self._members.values() if m.started)

    async def attach(self, name: str) -> None:
        """Starts the account's engine (a new one if it ran before); raises when it cannot
        start, so the lease is given back for another node to try."""
        member = self._members[name]
        if member.started:
            return
        if name not in self._fresh:
            member.engine = self._make_member(name)
            member.engine.set_handler(self._forwarder(name))
        self._fresh.discard(name)
        await member.engine.start()
        member.started = True
        member.cool_until = 0.0
        counts = await self._assignments.counts()
        member.assigned = counts.get(name, 0)

    async def detach(self, name: str) -> list[int]:
        """Stops every stream of the account and closes its engine; returns the chats it
        was streaming.  Nothing is written anywhere: the lease is no longer ours."""
        member = self._members[name]
        chats = [c for c, account in self._route.items() if account == name]
        member.started = False
        for chat_id in chats:
            self._route.pop(chat_id, None)
        try:
            await asyncio.gather(*(member.engine.stop(c) for c in chats), return_exceptions=True)
        finally:
            await member.engine.close()
        self._count(member)
        return chats

    def chats_on(self, name: str) -> list[int]:
        """The chats streaming on the account here."""
        return [c for c, account in self._route.items() if account == name]

    async def _assigned(self, chat_id: int) -> _Member:
        name = self._route.get(chat_id) or await self._assignments.get(chat_id)
        if name in self._members and not self._members[name].started:
            raise NotHeldHere(name)
        return await super()._assigned(chat_id)
