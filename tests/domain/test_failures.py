"""Tracks that fail, calls that fail, calls that go away: nothing is lost, nothing loops."""

from __future__ import annotations

import pytest

from bot.domain.control import PlayerState, PlayOutcome
from bot.domain.models import EndReason, LoopMode
from bot.domain.playback import MAX_CONSECUTIVE_FAILURES
from bot.engines.base import MediaError, NoActiveCall
from tests.domain.conftest import CHAT, Rig, change, make_track, queue, status

A, B, C = make_track("Alpha"), make_track("Bravo"), make_track("Charlie")


async def test_a_track_failing_midway_is_recorded_and_skipped(rig: Rig) -> None:
    for track in (A, B):
        await rig.players.play(CHAT, track)
    rig.events()
    await rig.clock.advance(30)

    assert await rig.engine.fail(CHAT, "connection reset") == A.id
    await rig.players.drain()

    assert rig.engine.playing(CHAT) == B.id
    assert rig.events() == [
        status("error", error="connection reset", track_id=A.id, title="Alpha"),
        change(B, "advance"),
        status("playing"),
        queue(),
    ]
    assert await rig.history_rows() == [("Alpha", EndReason.ERROR), ("Bravo", None)]


async def test_media_that_cannot_play_is_refused_and_the_queue_goes_on(rig: Rig) -> None:
    rig.engine.fail_next("play", MediaError("the media cannot be played"))
    with pytest.raises(MediaError):
        await rig.players.play(CHAT, A)
    assert await rig.store.now_playing(CHAT) is None
    assert rig.events() == [
        status("error", error="the media cannot be played", track_id=A.id, title="Alpha"),
        status("idle", reason="queue_end"),
        queue(),
    ]
    assert await rig.history_rows() == [("Alpha", EndReason.ERROR)]

    # the next track in line is played when the current one turns out unplayable
    await rig.players.play(CHAT, B)
    await rig.players.play(CHAT, C)
    rig.engine.fail_next("play", MediaError("broken"))
    await rig.players.skip(CHAT)  # Bravo skipped; Charlie fails at start: nothing left
    assert rig.engine.playing(CHAT) is None
    assert await rig.store.chats_with_state() == []


async def test_no_voice_chat_stalls_without_losing_the_queue(rig: Rig) -> None:
    rig.engine.fail_next("play", NoActiveCall())
    with pytest.raises(NoActiveCall):
        await rig.players.play(CHAT, A)
    assert rig.events() == [
        status("error", error="no active voice chat in this group"),
        status("idle", reason="error"),
        queue(),
    ]
    snap = await rig.players.snapshot(CHAT)
    assert snap.state is PlayerState.PAUSED  # kept where it was, not playing
    assert snap.now is not None
    assert snap.now.track == A
    assert await rig.history_rows() == []

    # the voice chat was started: the next /play starts the waiting track first
    assert await rig.players.play(CHAT, B) == PlayOutcome(B, started=False, position=1)
    assert rig.engine.playing(CHAT) == A.id
    assert rig.events() == [change(A, "play"), status("playing"), queue("Bravo")]
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert not now.paused


async def test_resume_restarts_a_stalled_chat(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    await rig.clock.advance(100)
    rig.engine.fail_next("play", NoActiveCall())
    await rig.end()  # Bravo cannot start: the voice chat closed
    assert rig.engine.playing(CHAT) is None
    assert (await rig.players.snapshot(CHAT)).state is PlayerState.PAUSED
    rig.events()

    await rig.clock.advance(3600)
    assert await rig.players.resume(CHAT) is True
    assert rig.engine.calls[-1] == ("play", CHAT, B.id, 0.0)
    assert rig.events() == [change(B, "resume"), status("playing"), queue()]


async def test_call_gone_keeps_queue_and_position(rig: Rig) -> None:
    for track in (A, B):
        await rig.players.play(CHAT, track)
    await rig.clock.advance(70)
    rig.events()

    await rig.engine.call_gone(CHAT, "kicked")
    await rig.players.drain()

    assert rig.events() == [status("idle", reason="call_gone")]
    assert await rig.history_rows() == [("Alpha", EndReason.CALL_GONE)]
    assert rig.players.active_chats() == []
    await rig.clock.advance(1000)
    snap = await rig.players.snapshot(CHAT)
    assert snap.state is PlayerState.PAUSED
    assert snap.position == 70.0
    assert [t.title for t in snap.pending] == ["Bravo"]

    assert await rig.players.resume(CHAT) is True
    assert rig.engine.calls[-1] == ("play", CHAT, A.id, 70.0)
    assert await rig.history_rows() == [("Alpha", EndReason.CALL_GONE), ("Alpha", None)]


async def test_a_queue_of_dead_links_gives_up(rig: Rig) -> None:
    await rig.players.set_loop(CHAT, LoopMode.QUEUE)  # failures would come round forever
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    for _ in range(MAX_CONSECUTIVE_FAILURES + 3):
        rig.engine.fail_next("play", MediaError("gone"))
    rig.events()

    await rig.engine.fail(CHAT, "gone")
    await rig.players.drain()

    plays = [c for c in rig.engine.calls if c[0] == "play"]
    assert len(plays) == MAX_CONSECUTIVE_FAILURES  # A, then 4 failed starts
    assert rig.engine.playing(CHAT) is None
    events = rig.events()
    titles = {A.id: "Alpha", B.id: "Bravo"}
    errors = [e for e in events if e[1].get("state") == "error"]
    assert [(e[1]["track_id"], e[1]["error"]) for e in errors] == [(c[2], "gone") for c in plays]
    for e in errors:  # copies made by loop queue carry their original's title
        assert e[1]["title"] in titles.values()
    assert errors[0] == status("error", error="gone", track_id=A.id, title=titles[A.id])
    assert events[-2:] == [status("idle", reason="failures"), queue("Alpha", loop="queue")]
    # the queue is still there, paused, for a person to deal with
    snap = await rig.players.snapshot(CHAT)
    assert snap.state is PlayerState.PAUSED
