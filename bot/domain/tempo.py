"""``/speed``: a chat's tempo change, as one transition of its player (under its lock).

Positions stay in track time everywhere (the slot, the engines, the progress lines); the
speed only says how fast track time passes per wall second.  So a change is ordered:

1. the position reached at the OLD speed is checkpointed (at ``now``),
2. the new speed is written to the chat's settings,
3. the engine restarts the track at that position with the new tempo (as a seek does),
   and is handed the next track again at the new tempo (its pre-roll).

A crash before 2 leaves the old speed and a position that is right for it; after 2, a
position taken at the moment of the change with the speed that applies from then on.
Either way the resumed track starts where it was, at the speed the chat last confirmed.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.errors import ErrorCode, PlayerError
from bot.domain.playback import Playback, PlayerDeps
from bot.domain.policy import valid_speed


async def change_speed(p: Playback, d: PlayerDeps, speed: float) -> bool:
    """Sets the chat's speed; False when it already was that (nothing restarts).

    Raises ``PlayerError`` BAD_SPEED outside the range and LIVE_SPEED while a live stream
    plays (a live source plays at 1x; refusing says so instead of storing a speed that
    silently does nothing now).  The caller holds ``p.lock``; an ``EngineError`` or
    ``MediaError`` of the restart propagates as from any start."""
    if not valid_speed(speed):
        raise PlayerError(ErrorCode.BAD_SPEED, str(speed))
    slot = await d.store.now_playing(p.chat_id)
    streaming = slot is not None and p.engine_track == slot.track.id
    if slot is not None and streaming and slot.track.is_live:
        raise PlayerError(ErrorCode.LIVE_SPEED)
    if speed == await p.levels.speed():
        return False
    current = None
    if slot is not None and not slot.paused and not slot.track.is_live:
        now = d.clock.time()
        if streaming:
            position = await p.engine_position(slot, now)
        else:
            position = slot.position_at(now, await p.levels.rate(slot.track))
            if slot.track.duration is not None:
                position = min(position, slot.track.duration)
        await d.store.checkpoint(p.chat_id, slot.track.id, position=position, paused=False, now=now)
        current = replace(slot, position=position, updated_at=now)
    elif slot is not None:
        current = slot
    await d.settings.set_speed(p.chat_id, speed)
    p.levels.remember_speed(speed)
    if streaming and current is not None:
        await p.restart(current)
        await p.preload_again()
    return True
