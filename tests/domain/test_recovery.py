"""A crash at each step of a transition, then a new process on the same store: ``recover``
must play exactly what the store says, at the stored position less the rewind.

Every test runs on SQLite, on a real redis-server (AOF on) and on PostgreSQL.  The crash is a
``SimulatedCrash`` raised inside a store call (before it: the change never happened; after
it: committed) or inside an engine call; the old player is abandoned, never closed.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from bot.domain.control import PlayerState
from bot.domain.models import EndReason
from bot.engines.base import TrackEnded
from tests.domain.conftest import CHAT, Rig, change, make_track, queue, status
from tests.support.crash_points import CrashingStore, SimulatedCrash
from tests.support.queue_backends import operations

A, B, C = make_track("Alpha"), make_track("Bravo"), make_track("Charlie")

pytestmark = pytest.mark.parametrize(
    "store_kind", ["sqlite", "redis", pytest.param("postgres", marks=pytest.mark.postgres)]
)


async def crashing(rig: Rig) -> CrashingStore:
    store = CrashingStore(rig.store)
    await rig.boot(store=store)
    return store


async def restart(rig: Rig, *, after: float) -> int:
    """The process is gone; ``after`` seconds later a new one starts and recovers."""
    await rig.clock.advance(after)
    await rig.boot()
    rig.events()
    return await rig.players.recover()


async def test_crash_between_enqueue_and_start_next(rig: Rig) -> None:
    store = await crashing(rig)
    store.crash_before("start_next")
    with pytest.raises(SimulatedCrash):
        await rig.players.play(CHAT, A)

    assert await restart(rig, after=30) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 0.0)]
    assert await rig.pending_titles() == []
    assert rig.events() == [change(A, "resume"), status("playing"), queue()]
    assert await rig.history_rows() == [("Alpha", None)]


async def test_crash_when_the_slot_is_filled_but_the_engine_never_started(rig: Rig) -> None:
    rig.engine.fail_next("play", SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        await rig.players.play(CHAT, A)

    # the slot started counting at the crash: 10 s later, less the 3 s rewind
    assert await restart(rig, after=10) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 7.0)]
    assert rig.events() == [change(A, "resume", 7.0), status("playing"), queue()]
    snap = await rig.players.snapshot(CHAT)
    assert (snap.state, snap.position) == (PlayerState.PLAYING, 7.0)


async def test_crash_after_advance_before_the_engine_heard_of_the_next(rig: Rig) -> None:
    for track in (A, B, C):
        await rig.players.play(CHAT, track)
    await rig.clock.advance(180)
    rig.engine.fail_next("play", SimulatedCrash())
    await rig.engine.emit(TrackEnded(CHAT, A.id))
    await rig.players.drain()

    assert await restart(rig, after=2) == 1
    assert rig.engine.calls == [("play", CHAT, B.id, 0.0)]
    assert await rig.pending_titles() == ["Charlie"]
    # Bravo's start was never recorded (the crash came first): its row appears at its end
    assert await rig.history_rows() == [("Alpha", EndReason.FINISHED)]
    await rig.end()
    assert await rig.history_rows() == [
        ("Alpha", EndReason.FINISHED),
        ("Bravo", EndReason.FINISHED),
        ("Charlie", None),
    ]


async def test_crash_before_advance_when_the_track_had_ended(rig: Rig) -> None:
    for track in (A, B):
        await rig.players.play(CHAT, track)
    store = await crashing(rig)
    await rig.players.recover()  # the crashing process took over the stream
    await rig.clock.advance(181)
    store.crash_before("advance")
    await rig.end(track_id=rig.engine.playing(CHAT))

    assert await restart(rig, after=5) == 1
    # Alpha's stored position is past its end: it finished; Bravo plays from the start
    assert rig.engine.calls == [("play", CHAT, B.id, 0.0)]
    assert rig.events() == [change(B, "advance"), status("playing"), queue()]
    # one row per play across both restarts: the first process opened it, the second
    # continued it, the third closed it
    assert await rig.history_rows() == [("Alpha", EndReason.FINISHED), ("Bravo", None)]


async def test_crash_before_a_skip_reached_the_store(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    store = await crashing(rig)
    await rig.players.recover()
    await rig.clock.advance(50)
    store.crash_before("advance")
    with pytest.raises(SimulatedCrash):
        await rig.players.skip(CHAT)

    assert await restart(rig, after=10) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 57.0)]
    assert await rig.pending_titles() == ["Bravo"]


async def test_crash_after_a_skip_reached_the_store(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    store = await crashing(rig)
    await rig.players.recover()
    store.crash_after("advance")
    with pytest.raises(SimulatedCrash):
        await rig.players.skip(CHAT)

    assert await restart(rig, after=1) == 1
    assert rig.engine.calls == [("play", CHAT, B.id, 0.0)]
    assert await rig.pending_titles() == []


async def test_crash_between_pause_checkpoint_and_engine_keeps_it_paused(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.clock.advance(40)
    rig.engine.fail_next("pause", SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        await rig.players.pause(CHAT)

    assert await restart(rig, after=100) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 37.0), ("pause", CHAT)]
    assert rig.events() == [change(A, "resume", 37.0), status("paused"), queue()]
    snap = await rig.players.snapshot(CHAT)
    assert (snap.state, snap.position) == (PlayerState.PAUSED, 37.0)
    assert await rig.players.resume(CHAT) is True
    assert rig.engine.calls[-1] == ("resume", CHAT)


async def test_crash_between_resume_checkpoint_and_engine_plays_on(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.clock.advance(40)
    await rig.players.pause(CHAT)
    await rig.clock.advance(500)
    rig.engine.fail_next("resume", SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        await rig.players.resume(CHAT)

    # the store said "playing from 40" at the crash; 10 s later that is 50, less the rewind
    assert await restart(rig, after=10) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 47.0)]
    assert rig.events() == [change(A, "resume", 47.0), status("playing"), queue()]


async def test_crash_after_a_failed_track_was_skipped_in_the_store(rig: Rig) -> None:
    for track in (A, B):
        await rig.players.play(CHAT, track)
    store = await crashing(rig)
    await rig.players.recover()
    store.crash_after("advance")
    await rig.engine.fail(CHAT, "decoder error")
    await rig.players.drain()

    assert await restart(rig, after=1) == 1
    assert rig.engine.calls == [("play", CHAT, B.id, 0.0)]
    assert await rig.pending_titles() == []


async def test_a_chat_whose_call_went_away_comes_back_paused(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    await rig.clock.advance(70)
    await rig.engine.call_gone(CHAT)
    await rig.players.drain()

    # the slot was kept paused at 70: a restart rejoins paused there (less the rewind)
    assert await restart(rig, after=600) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 67.0), ("pause", CHAT)]
    assert await rig.pending_titles() == ["Bravo"]


async def test_crash_between_clear_and_engine_stop_plays_nothing(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    rig.engine.fail_next("stop", SimulatedCrash())
    with pytest.raises(SimulatedCrash):
        await rig.players.stop(CHAT)

    assert await restart(rig, after=1) == 0
    assert rig.engine.calls == []
    assert await rig.store.chats_with_state() == []


async def test_24_7_crash_between_playlist_enqueue_and_start(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:radio"])
    await rig.players.play(CHAT, A)
    store = await crashing(rig)
    await rig.players.recover()
    store.crash_before("start_next")
    await rig.end(track_id=rig.engine.playing(CHAT))

    assert await restart(rig, after=1) == 1
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert now.track.title == "Dawn"
    assert rig.engine.calls == [("play", CHAT, now.track.id, 0.0)]


async def test_periodic_checkpoints_bring_the_restart_near_the_real_position(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.start()
    await rig.clock.until_sleeping(2)
    rig.engine.set_position(CHAT, 100.0)  # playback is ahead of the wall-clock estimate
    await rig.clock.advance(5)  # one checkpoint round
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert (now.position, now.updated_at) == (105.0, rig.clock.time())
    await rig.clock.advance(5)  # no drift since: no write
    assert await rig.store.now_playing(CHAT) == now
    await rig.players.close()  # graceful: the final checkpoint writes regardless of drift

    assert await restart(rig, after=20) == 1
    assert rig.engine.calls == [("play", CHAT, A.id, 110.0 + 20 - 3)]


async def test_resume_after_restart_off_leaves_queues_waiting(rig: Rig) -> None:
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    rig.config = dataclasses.replace(rig.config, resume_after_restart=False)

    assert await restart(rig, after=10) == 0
    assert rig.engine.calls == []
    assert await rig.players.resume(CHAT) is True
    assert rig.engine.calls == [("play", CHAT, A.id, 10.0)]
    assert await rig.pending_titles() == ["Bravo"]


async def test_recovery_of_many_chats_is_bounded_and_quick(rig: Rig, store_kind: str) -> None:
    # SQLite with synchronous=FULL pays a sync per transaction even to set the test up;
    # Redis shows the scale (recovery alone: about 0.5 ms a chat here).
    chats = range(1, {"sqlite": 200, "postgres": 200, "redis": 1000}[store_kind] + 1)
    for chat in chats:
        await rig.store.enqueue(chat, make_track(f"now {chat}"), limit=10)
        await rig.store.start_next(chat, now=rig.clock.time())
        await rig.store.enqueue(chat, make_track(f"next {chat}"), limit=10)

    began = time.monotonic()
    assert await restart(rig, after=60) == len(chats)
    elapsed = time.monotonic() - began
    assert sorted(rig.engine.active_chats()) == list(chats)
    assert {c[3] for c in rig.engine.calls} == {57.0}
    assert rig.engine.max_in_flight <= 50
    if store_kind == "redis":  # SQLite transactions queue one by one in the store anyway
        assert rig.engine.max_in_flight > 1
    assert elapsed < 15, elapsed


async def test_recovery_reads_and_writes_queues_per_batch_not_per_chat(rig: Rig) -> None:
    """Resumed chats: one load_many read and one checkpoint_many write per batch of chats;
    a chat whose slot changes (ran out, or empty) still does its own steps."""

    chats = range(1, 31)
    for chat in chats:
        await rig.store.enqueue(chat, make_track(f"now {chat}"), limit=10)
        await rig.store.start_next(chat, now=rig.clock.time())
        await rig.store.enqueue(chat, make_track(f"next {chat}"), limit=10)
    await rig.store.enqueue(99, make_track("waiting"), limit=10)  # nothing in its slot
    ops = ("load_many", "checkpoint_many", "now_playing", "pending_and_loop", "checkpoint")
    before = {op: operations(op) for op in ops}
    assert await restart(rig, after=60) == len(chats) + 1
    assert {op: operations(op) - before[op] for op in ops} == {
        "load_many": 1,
        "checkpoint_many": 1,
        "now_playing": 0,
        "pending_and_loop": 1,  # chat 99: its pending list changed when it started
        "checkpoint": 0,
    }
    for chat in chats:  # the resume position (60 s less the 3 s rewind) is stored
        stored = await rig.store.now_playing(chat)
        assert stored is not None
        assert (stored.position, stored.updated_at) == (57.0, rig.clock.time())
        assert await rig.pending_titles(chat) == [f"next {chat}"]
    assert ("play", 99) in {call[:2] for call in rig.engine.calls}
