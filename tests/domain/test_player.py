"""The player's transitions on the real SQLite queue store and the fake voice engine."""

from __future__ import annotations

import pytest

from bot.domain.control import PlayerState, PlayOutcome
from bot.domain.errors import PlayerError, PlayerErrorCode
from bot.domain.models import EndReason, LoopMode
from bot.engines.base import TrackEnded
from bot.storage.queue import QueueFull, QueuePositionError
from tests.domain.conftest import CHAT, Rig, change, make_track, queue, status

A, B, C = make_track("Alpha"), make_track("Bravo"), make_track("Charlie")


async def test_play_starts_the_first_track_and_queues_the_rest(rig: Rig) -> None:
    players = rig.players
    assert await players.play(CHAT, A) == PlayOutcome(A, started=True, position=0)
    assert await players.play(CHAT, B) == PlayOutcome(B, started=False, position=1)
    assert await players.play(CHAT, C) == PlayOutcome(C, started=False, position=2)

    assert rig.engine.calls == [("play", CHAT, A.id, 0.0)]
    assert rig.engine.streams[CHAT].media == A.media
    assert rig.engine.streams[CHAT].volume == 100
    assert rig.events() == [
        change(A, "play"),
        status("playing"),
        queue(),
        queue("Bravo"),
        queue("Bravo", "Charlie"),
    ]
    snap = await players.snapshot(CHAT)
    assert snap.state is PlayerState.PLAYING
    assert snap.now is not None
    assert snap.now.track == A
    assert [t.title for t in snap.pending] == ["Bravo", "Charlie"]
    assert snap.position == 0.0
    assert players.active_chats() == [CHAT]
    assert await rig.history_rows() == [("Alpha", None)]


async def test_natural_end_advances_through_the_queue_then_leaves(rig: Rig) -> None:
    for track in (A, B, C):
        await rig.players.play(CHAT, track)
    rig.events()
    await rig.clock.advance(TRACK_END := 180)

    assert await rig.end() == A.id
    assert rig.engine.playing(CHAT) == B.id
    assert await rig.pending_titles() == ["Charlie"]
    assert rig.events() == [change(B, "advance"), status("playing"), queue("Charlie")]

    await rig.clock.advance(TRACK_END)
    await rig.end()
    await rig.clock.advance(TRACK_END)
    await rig.end()

    assert rig.engine.calls == [
        ("play", CHAT, A.id, 0.0),
        ("play", CHAT, B.id, 0.0),
        ("play", CHAT, C.id, 0.0),
        ("stop", CHAT),
    ]
    assert rig.events() == [
        change(C, "advance"),
        status("playing"),
        queue(),
        status("idle", reason="queue_end"),
        queue(),
    ]
    assert await rig.store.now_playing(CHAT) is None
    assert await rig.store.chats_with_state() == []
    assert await rig.history_rows() == [
        ("Alpha", EndReason.FINISHED),
        ("Bravo", EndReason.FINISHED),
        ("Charlie", EndReason.FINISHED),
    ]
    assert rig.players.active_chats() == []
    assert (await rig.players.snapshot(CHAT)).state is PlayerState.IDLE


async def test_a_duplicate_end_advances_once(rig: Rig) -> None:
    for track in (A, B, C):
        await rig.players.play(CHAT, track)
    rig.events()

    await rig.engine.emit(TrackEnded(CHAT, A.id))
    await rig.engine.emit(TrackEnded(CHAT, A.id))
    await rig.players.drain()

    assert rig.engine.calls == [("play", CHAT, A.id, 0.0), ("play", CHAT, B.id, 0.0)]
    assert await rig.playing_title() == "Bravo"
    assert await rig.pending_titles() == ["Charlie"]
    assert rig.events() == [change(B, "advance"), status("playing"), queue("Charlie")]
    assert await rig.history_rows() == [("Alpha", EndReason.FINISHED), ("Bravo", None)]

    # a stale end (of a track long gone) arriving later changes nothing either
    await rig.end(track_id=A.id)
    assert await rig.playing_title() == "Bravo"
    assert rig.events() == []


async def test_skip_plays_the_next_and_then_runs_out(rig: Rig) -> None:
    with pytest.raises(PlayerError) as refused:
        await rig.players.skip(CHAT)
    assert refused.value.code is PlayerErrorCode.NOTHING_PLAYING

    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    rig.events()
    now = await rig.players.skip(CHAT)
    assert now is not None
    assert now.track == B
    assert rig.events() == [change(B, "skip"), status("playing"), queue()]
    assert await rig.players.skip(CHAT) is None
    assert rig.events() == [status("idle", reason="queue_end"), queue()]
    assert rig.engine.calls[-2:] == [("play", CHAT, B.id, 0.0), ("stop", CHAT)]
    assert await rig.history_rows() == [("Alpha", EndReason.SKIPPED), ("Bravo", EndReason.SKIPPED)]


async def test_stop_clears_everything_and_leaves_the_call(rig: Rig) -> None:
    for track in (A, B, C):
        await rig.players.play(CHAT, track)
    rig.events()
    await rig.players.stop(CHAT)

    assert rig.engine.calls[-1] == ("stop", CHAT)
    assert rig.engine.playing(CHAT) is None
    assert await rig.store.now_playing(CHAT) is None
    assert await rig.pending_titles() == []
    assert rig.events() == [status("idle", reason="stopped"), queue()]
    assert await rig.history_rows() == [("Alpha", EndReason.STOPPED)]
    # a late end report of the stopped track does nothing
    await rig.end(track_id=A.id)
    assert rig.events() == []


async def test_pause_freezes_the_position_and_resume_continues(rig: Rig) -> None:
    assert await rig.players.pause(CHAT) is False
    await rig.players.play(CHAT, A)
    await rig.clock.advance(40)
    rig.events()

    assert await rig.players.pause(CHAT) is True
    assert await rig.players.pause(CHAT) is False
    await rig.clock.advance(600)
    snap = await rig.players.snapshot(CHAT)
    assert (snap.state, snap.position) == (PlayerState.PAUSED, 40.0)
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert now.paused
    assert now.position == 40.0

    assert await rig.players.resume(CHAT) is True
    assert await rig.players.resume(CHAT) is False
    await rig.clock.advance(5)
    snap = await rig.players.snapshot(CHAT)
    assert (snap.state, snap.position) == (PlayerState.PLAYING, 45.0)
    assert rig.engine.calls == [
        ("play", CHAT, A.id, 0.0),
        ("pause", CHAT),
        ("resume", CHAT),
    ]
    assert rig.events() == [status("paused"), status("playing")]


async def test_play_while_paused_queues_and_stays_paused(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.pause(CHAT)
    assert await rig.players.play(CHAT, B) == PlayOutcome(B, started=False, position=1)
    assert rig.engine.calls == [("play", CHAT, A.id, 0.0), ("pause", CHAT)]
    assert (await rig.players.snapshot(CHAT)).state is PlayerState.PAUSED


async def test_seek_validates_then_moves(rig: Rig) -> None:
    with pytest.raises(PlayerError) as refused:
        await rig.players.seek(CHAT, 10)
    assert refused.value.code is PlayerErrorCode.NOTHING_PLAYING
    await rig.players.play(CHAT, A)
    for bad in (-1.0, 180.0, 500.0, float("nan")):
        with pytest.raises(PlayerError) as refused:
            await rig.players.seek(CHAT, bad)
        assert refused.value.code is PlayerErrorCode.BAD_POSITION
    await rig.players.seek(CHAT, 95.5)
    assert rig.engine.calls[-1] == ("seek", CHAT, 95.5)
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert now.position == 95.5
    assert now.updated_at == rig.clock.time()

    live = make_track("Radio", duration=None, is_live=True)
    await rig.players.play(CHAT + 1, live)
    with pytest.raises(PlayerError) as refused:
        await rig.players.seek(CHAT + 1, 10)
    assert refused.value.code is PlayerErrorCode.NOT_SEEKABLE


async def test_volume_is_checked_and_passed_to_the_engine(rig: Rig) -> None:
    for bad in (0, 201, -5):
        with pytest.raises(PlayerError) as refused:
            await rig.players.set_volume(CHAT, bad)
        assert refused.value.code is PlayerErrorCode.BAD_VOLUME
    await rig.players.set_volume(CHAT, 150)  # before anything plays: kept for the first track
    assert rig.engine.calls == []
    await rig.players.play(CHAT, A)
    assert rig.engine.streams[CHAT].volume == 150
    await rig.players.set_volume(CHAT, 200)
    assert rig.engine.calls[-1] == ("volume", CHAT, 200)
    assert (await rig.players.snapshot(CHAT)).volume == 200


async def test_queue_limit(rig: Rig) -> None:
    rig.config = rig.config.model_copy(update={"queue_limit": 2})
    await rig.boot()
    await rig.players.play(CHAT, A)  # plays: the slot is not counted
    await rig.players.play(CHAT, B)
    await rig.players.play(CHAT, C)
    with pytest.raises(QueueFull):
        await rig.players.play(CHAT, make_track("Delta"))
    assert await rig.pending_titles() == ["Bravo", "Charlie"]


async def test_loop_track_replays_and_loop_queue_rotates(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    await rig.players.set_loop(CHAT, LoopMode.TRACK)
    assert rig.events()[-1] == queue("Bravo", loop="track")

    await rig.end()
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert now.track.title == "Alpha"
    assert now.track.id != A.id
    assert rig.engine.playing(CHAT) == now.track.id
    # a skip leaves a looped track
    skipped_to = await rig.players.skip(CHAT)
    assert skipped_to is not None
    assert skipped_to.track == B

    await rig.players.set_loop(CHAT, LoopMode.QUEUE)
    await rig.end()  # Bravo ends: appended again, and it is the only one, so it plays again
    assert await rig.playing_title() == "Bravo"
    await rig.players.play(CHAT, C)
    await rig.end()
    assert await rig.playing_title() == "Charlie"
    assert await rig.pending_titles() == ["Bravo"]
    assert await rig.history_rows() == [
        ("Alpha", EndReason.FINISHED),
        ("Alpha", EndReason.SKIPPED),
        ("Bravo", EndReason.FINISHED),
        ("Bravo", EndReason.FINISHED),
        ("Charlie", None),
    ]


async def test_queue_edits_announce_the_queue(rig: Rig) -> None:
    tracks = [make_track(name) for name in ("Alpha", "Bravo", "Charlie", "Delta", "Echo")]
    for track in tracks:
        await rig.players.play(CHAT, track)
    rig.events()

    assert await rig.players.move(CHAT, 4, 1) == tracks[4]
    assert await rig.players.remove(CHAT, 2) == tracks[1]
    with pytest.raises(QueuePositionError):
        await rig.players.remove(CHAT, 9)
    await rig.players.shuffle(CHAT)
    shuffled = await rig.pending_titles()
    assert sorted(shuffled) == ["Charlie", "Delta", "Echo"]
    assert await rig.players.clear(CHAT) == 3
    assert rig.events() == [
        queue("Echo", "Bravo", "Charlie", "Delta"),
        queue("Echo", "Charlie", "Delta"),
        queue(*shuffled),
        queue(),
    ]
    assert await rig.playing_title() == "Alpha"  # clear keeps the current track


async def test_queue_update_names_only_the_first_five(rig: Rig) -> None:
    names = [f"T{i}" for i in range(8)]
    for name in names:
        await rig.players.play(CHAT, make_track(name))
    assert rig.events()[-1] == queue("T1", "T2", "T3", "T4", "T5", length=7)


async def test_the_engine_always_knows_what_plays_next(rig: Rig) -> None:
    """After every queue change the engine is told the head of pending (so it can start
    decoding it before the current track ends), or that nothing is known to come next."""
    players = rig.players

    def upcoming() -> str | None:
        request = rig.engine.preloaded.get(CHAT)
        return None if request is None else request.track_id

    await players.play(CHAT, A)
    assert upcoming() is None
    await players.play(CHAT, B)
    assert upcoming() == B.id
    request = rig.engine.preloaded[CHAT]
    assert request is not None
    assert (request.media, request.position, request.duration) == (B.media, 0.0, B.duration)
    await players.play(CHAT, C)
    assert upcoming() == B.id
    await players.move(CHAT, 2, 1)
    assert upcoming() == C.id
    await rig.end()  # C starts; B is next
    assert (rig.engine.playing(CHAT), upcoming()) == (C.id, B.id)
    await players.set_loop(CHAT, LoopMode.TRACK)  # the replay's id is not drawn yet
    assert upcoming() is None
    await players.set_loop(CHAT, LoopMode.OFF)
    assert upcoming() == B.id
    await players.clear(CHAT)
    assert upcoming() is None
