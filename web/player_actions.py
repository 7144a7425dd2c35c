"""Playback commands from the web (the panel's Queues page and the dashboard): one path
through the player services and one audit row per change, whichever page asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.control import ChatSnapshot, PlayerState
from bot.domain.errors import PlayerError
from bot.domain.queue import QueueError
from bot.engines.base import EngineError
from web.audit import record
from web.services import WebServices

ACTIONS = frozenset({"pause", "resume", "skip", "stop", "clear", "remove"})


class ActionRefused(Exception):
    """Nothing was changed; the message says why, in words for the admin who asked."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    message: str
    after: dict[str, Any]


def _summary(snap: ChatSnapshot) -> dict[str, Any]:
    return {
        "state": snap.state.value,
        "now": snap.now.track.title if snap.now else None,
        "pending": len(snap.pending),
    }


async def _apply(
    services: WebServices, snap: ChatSnapshot, action: str, track_id: str | None
) -> ActionResult:
    players, chat_id = services.players, snap.chat_id
    if action == "skip":
        if snap.state is PlayerState.IDLE:
            raise ActionRefused(f"chat {chat_id}: nothing is playing")
        nxt = await players.skip(chat_id)
        return ActionResult(f"chat {chat_id}: skipped", {"now": nxt.track.title if nxt else None})
    if action == "pause":
        if not await players.pause(chat_id):
            raise ActionRefused(f"chat {chat_id}: nothing is playing")
        return ActionResult(f"chat {chat_id}: paused", {"state": "paused"})
    if action == "resume":
        if not await players.resume(chat_id):
            raise ActionRefused(f"chat {chat_id}: nothing is paused")
        return ActionResult(f"chat {chat_id}: resumed", {"state": "playing"})
    if action == "stop":
        await players.stop(chat_id)
        return ActionResult(f"chat {chat_id}: stopped", {"state": "idle", "pending": 0})
    if action == "clear":
        removed = await players.clear(chat_id)
        return ActionResult(f"chat {chat_id}: cleared {removed} queued tracks", {"pending": 0})
    # remove: by track id in the store, in one step, so a queue that moved since the page
    # drew it (or since ``snap`` was read) loses the right track or nothing
    gone = await players.remove_track(chat_id, track_id) if track_id else None
    if gone is None:
        raise ActionRefused(f"chat {chat_id}: that track is no longer queued")
    return ActionResult(
        f"chat {chat_id}: removed {gone.title}", {"removed": gone.title, "track_id": gone.id}
    )


async def perform(
    services: WebServices,
    *,
    actor: str,
    chat_id: int,
    action: str,
    track_id: str | None = None,
) -> ActionResult:
    """Runs ``action`` on ``chat_id`` and writes its audit row (``queue.<action>``).

    Raises ActionRefused, with nothing changed and nothing audited, when the action makes
    no sense now or the player refuses it.
    """
    if action not in ACTIONS:
        raise ActionRefused(f"unknown action: {action[:40]}")
    try:
        before = await services.players.snapshot(chat_id)
        result = await _apply(services, before, action, track_id)
    except (QueueError, EngineError, PlayerError) as exc:
        raise ActionRefused(f"chat {chat_id}: {action} failed: {exc}") from exc
    await record(
        services.sessionmaker,
        actor=actor,
        action=f"queue.{action}",
        entity="queue",
        entity_id=str(chat_id),
        before=_summary(before),
        after=result.after,
    )
    return result
