"""/speed in the player: positions in track time, a change restarts the stream where it
is, the speed survives a restart, live streams stay at 1x.  Real store and settings
repository, fake engine, manual clock."""

from __future__ import annotations

import pytest

from bot.domain.errors import ErrorCode, PlayerError
from bot.domain.models import NowPlaying
from bot.domain.playback import ran_out
from tests.domain.conftest import CHAT, Rig, make_track


def plays(rig: Rig) -> list[tuple[str, float, float]]:
    """(track id, position, speed) of every play the engine was asked for."""
    return [
        (str(c[2]), float(c[3]), rig.engine.streams[CHAT].speed)  # type: ignore[arg-type]
        for c in rig.engine.calls_of(CHAT)
        if c[0] == "play"
    ]


@pytest.mark.parametrize("speed", [0.5, 1.5, 2.0])
def test_position_at_advances_speed_times_wall_seconds(speed: float) -> None:
    slot = NowPlaying(make_track("a"), started_at=0.0, position=30.0, updated_at=100.0)
    assert slot.position_at(110.0, speed) == pytest.approx(30.0 + 10 * speed)
    assert slot.position_at(110.0) == pytest.approx(40.0)  # 1x unless told
    paused = NowPlaying(slot.track, 0.0, position=30.0, updated_at=100.0, paused=True)
    assert paused.position_at(110.0, speed) == 30.0


def test_ran_out_counts_track_time() -> None:
    slot = NowPlaying(make_track("a", duration=180.0), 0.0, position=0.0, updated_at=0.0)
    assert not ran_out(slot, 100.0)
    assert ran_out(slot, 100.0, 2.0)  # 200 s of track in 100 s
    assert not ran_out(slot, 300.0, 0.5)  # 150 s of track in 300 s


@pytest.mark.parametrize("speed", [0.5, 1.5, 2.0])
async def test_snapshot_position_and_checkpoints_are_track_time(rig: Rig, speed: float) -> None:
    await rig.players.play(CHAT, make_track("a"))
    await rig.clock.advance(10)
    assert await rig.players.set_speed(CHAT, speed) is True
    assert rig.engine.streams[CHAT].speed == speed
    await rig.clock.advance(20)
    snap = await rig.players.snapshot(CHAT)
    assert snap.speed == speed
    assert snap.position == pytest.approx(10 + 20 * speed)
    # the engine agrees (it plays at that speed), so the periodic checkpoint writes nothing
    assert await rig.players.chat(CHAT).checkpoint() is False
    # and a real drift is still caught, measured in track time
    rig.engine.set_position(CHAT, 10 + 20 * speed + 5)
    assert await rig.players.chat(CHAT).checkpoint() is True


async def test_a_change_restarts_where_the_track_is_and_keeps_the_queue(rig: Rig) -> None:
    a, b = make_track("a"), make_track("b")
    await rig.players.play(CHAT, a)
    await rig.players.play(CHAT, b)
    await rig.clock.advance(30)
    await rig.players.set_speed(CHAT, 1.5)
    assert plays(rig)[-1] == (a.id, 30.0, 1.5)
    slot = await rig.store.now_playing(CHAT)
    assert slot is not None
    assert (slot.track.id, slot.position) == (a.id, 30.0)
    assert await rig.pending_titles() == ["b"]
    # the next track is preloaded at the same speed
    upcoming = rig.engine.preloaded[CHAT]
    assert upcoming is not None
    assert (upcoming.track_id, upcoming.speed) == (b.id, 1.5)
    # the same speed again is a no-op: no restart
    count = len(plays(rig))
    assert await rig.players.set_speed(CHAT, 1.5) is False
    assert len(plays(rig)) == count
    # the next track plays at the chat's speed
    await rig.end()
    assert plays(rig)[-1] == (b.id, 0.0, 1.5)


@pytest.mark.parametrize("bad", [0.0, 0.3, 0.49, 2.5, 3.0, float("nan"), float("inf"), -1.0])
async def test_out_of_range_is_refused_and_nothing_changes(rig: Rig, bad: float) -> None:
    await rig.players.play(CHAT, make_track("a"))
    count = len(rig.engine.calls)
    with pytest.raises(PlayerError) as caught:
        await rig.players.set_speed(CHAT, bad)
    assert caught.value.code is ErrorCode.BAD_SPEED
    assert len(rig.engine.calls) == count
    assert (await rig.settings.get(CHAT)).speed == 1.0


async def test_live_stream_refuses_speed_and_always_plays_at_1x(rig: Rig) -> None:
    await rig.players.set_speed(CHAT, 2.0)  # nothing plays: stored for what comes
    await rig.players.play(CHAT, make_track("radio", duration=None, is_live=True))
    assert rig.engine.streams[CHAT].speed == 1.0
    with pytest.raises(PlayerError) as caught:
        await rig.players.set_speed(CHAT, 1.5)
    assert caught.value.code is ErrorCode.LIVE_SPEED
    assert (await rig.settings.get(CHAT)).speed == 2.0
    await rig.clock.advance(10)
    assert (await rig.players.snapshot(CHAT)).position == pytest.approx(10.0)


async def test_paused_track_stays_paused_at_its_position(rig: Rig) -> None:
    a = make_track("a")
    await rig.players.play(CHAT, a)
    await rig.clock.advance(12)
    assert await rig.players.pause(CHAT) is True
    await rig.clock.advance(50)
    await rig.players.set_speed(CHAT, 0.5)
    assert plays(rig)[-1] == (a.id, 12.0, 0.5)
    assert rig.engine.calls_of(CHAT)[-1][0] == "pause"
    snap = await rig.players.snapshot(CHAT)
    assert snap.now is not None
    assert snap.now.paused
    assert snap.position == 12.0
    assert await rig.players.resume(CHAT) is True
    await rig.clock.advance(10)
    assert (await rig.players.snapshot(CHAT)).position == pytest.approx(17.0)


async def test_speed_survives_a_restart_and_resumes_in_track_time(rig: Rig) -> None:
    a = make_track("a")
    await rig.players.play(CHAT, a)
    await rig.clock.advance(10)
    await rig.players.set_speed(CHAT, 2.0)
    await rig.clock.advance(20)  # 10 + 2 x 20 = 50 s into the track
    # kill -9: nothing more is written; a new process on the same store and database
    await rig.boot()
    assert await rig.players.recover() == 1
    rewind = rig.config.resume_rewind_seconds
    assert plays(rig) == [(a.id, 50.0 - rewind, 2.0)]
    await rig.clock.advance(5)
    assert (await rig.players.snapshot(CHAT)).position == pytest.approx(50.0 - rewind + 10)


async def test_a_track_that_ran_out_at_speed_is_not_resumed(rig: Rig) -> None:
    """180 s at 2x are over after 90 s: after a crash at 100 s the next track plays."""
    await rig.players.play(CHAT, make_track("a"))
    await rig.players.play(CHAT, make_track("b"))
    await rig.players.set_speed(CHAT, 2.0)
    await rig.clock.advance(100)
    await rig.boot()
    assert await rig.players.recover() == 1
    assert await rig.playing_title() == "b"
    assert plays(rig)[-1][1:] == (0.0, 2.0)
