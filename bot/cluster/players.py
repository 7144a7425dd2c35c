"""The players of a cluster node: a chat's commands run only where its account is held.

The router sends a chat's updates to its owner, but ownership can move under a command
(a lease lost mid-way), and the web panel of any node can act on any chat.  This wrapper
makes sure of the owner before every command that changes a chat and answers
``Fenced`` ("this chat is being handed to another process") otherwise, instead of letting
a node that does not hold the account start a stream with it.  A command whose write was
fenced also stops this node's stream of that chat: it is stale.  Reads (``snapshot``,
``room``, ``chats_with_state``) run anywhere: the store is shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from bot.cluster.node import ClusterNode
from bot.domain.control import BatchOutcome, ChatSnapshot, Players, PlayOutcome
from bot.domain.manager import PlayerManager
from bot.domain.models import LoopMode, NowPlaying, Track
from bot.domain.queue import Fenced

T = TypeVar("T")

#: the chat's account, placing a new chat (``bot.cluster.routing.Router.assistant_for``)
AssistantFor = Callable[[int], Awaitable[str]]


class OwnedPlayers:
    """Implements ``Players`` over the node's ``PlayerManager``."""

    def __init__(
        self, players: PlayerManager, node: ClusterNode, assistant_for: AssistantFor
    ) -> None:
        self._players = players
        self._node = node
        self._assistant_for = assistant_for
        self.stats = players.stats

    async def _owned(self, chat_id: int, call: Callable[[], Awaitable[T]]) -> T:
        name = await self._assistant_for(chat_id)
        if not self._node.holds(name):
            raise Fenced()
        self._node.adopt(chat_id, name)
        try:
            return await call()
        except Fenced:
            await self._players.relinquish([chat_id])
            raise

    async def play(self, chat_id: int, track: Track) -> PlayOutcome:
        return await self._owned(chat_id, lambda: self._players.play(chat_id, track))

    async def play_many(self, chat_id: int, tracks: Sequence[Track]) -> BatchOutcome:
        return await self._owned(chat_id, lambda: self._players.play_many(chat_id, tracks))

    async def room(self, chat_id: int) -> int:
        return await self._players.room(chat_id)

    async def skip(self, chat_id: int) -> NowPlaying | None:
        return await self._owned(chat_id, lambda: self._players.skip(chat_id))

    async def stop(self, chat_id: int) -> None:
        await self._owned(chat_id, lambda: self._players.stop(chat_id))

    async def pause(self, chat_id: int) -> bool:
        return await self._owned(chat_id, lambda: self._players.pause(chat_id))

    async def resume(self, chat_id: int) -> bool:
        return await self._owned(chat_id, lambda: self._players.resume(chat_id))

    async def seek(self, chat_id: int, position: float) -> None:
        await self._owned(chat_id, lambda: self._players.seek(chat_id, position))

    async def set_volume(self, chat_id: int, volume: int) -> None:
        await self._owned(chat_id, lambda: self._players.set_volume(chat_id, volume))

    async def set_speed(self, chat_id: int, speed: float) -> bool:
        return await self._owned(chat_id, lambda: self._players.set_speed(chat_id, speed))

    async def set_loop(self, chat_id: int, mode: LoopMode) -> None:
        await self._owned(chat_id, lambda: self._players.set_loop(chat_id, mode))

    async def shuffle(self, chat_id: int) -> None:
        await self._owned(chat_id, lambda: self._players.shuffle(chat_id))

    async def remove(self, chat_id: int, position: int) -> Track:
        return await self._owned(chat_id, lambda: self._players.remove(chat_id, position))

    async def remove_track(self, chat_id: int, track_id: str) -> Track | None:
        return await self._owned(chat_id, lambda: self._players.remove_track(chat_id, track_id))

    async def move(self, chat_id: int, src: int, dst: int) -> Track:
        return await self._owned(chat_id, lambda: self._players.move(chat_id, src, dst))

    async def clear(self, chat_id: int) -> int:
        return await self._owned(chat_id, lambda: self._players.clear(chat_id))

    async def snapshot(self, chat_id: int) -> ChatSnapshot:
        return await self._players.snapshot(chat_id)

    async def chats_with_state(self) -> list[int]:
        return await self._players.chats_with_state()

    def active_chats(self) -> list[int]:
        return self._players.active_chats()

    def may_stream_video(self, chat_id: int) -> bool:
        """A count of this node's own video streams (the cap is per process)."""
        return self._players.may_stream_video(chat_id)


if TYPE_CHECKING:
    _players: type[Players] = OwnedPlayers
