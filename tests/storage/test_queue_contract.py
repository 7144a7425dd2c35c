"""One contract for every QueueStore backend (Redis, SQLite, PostgreSQL), exact contents."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest

from bot.domain.models import LoopMode, MediaKind, NowPlaying, SourceKind, Track
from bot.domain.queue import (
    Checkpoint,
    EnqueuedBatch,
    QueueFull,
    QueuePositionError,
    QueueSnapshot,
    QueueStore,
)
from tests.storage.conftest import Backend
from tests.support.queue_backends import operations

CHAT = -1001234567890123  # supergroup ids need 64 bits
OTHER = 42
LIMIT = 100


def track(title: str, **fields: object) -> Track:
    return Track(title=title, source=f"https://example.org/{title}", media=f"/m/{title}", **fields)  # type: ignore[arg-type]


async def fill(store: QueueStore, *titles: str, chat: int = CHAT) -> list[Track]:
    tracks = [track(t) for t in titles]
    for t in tracks:
        await store.enqueue(chat, t, limit=LIMIT)
    return tracks


def titles(tracks: list[Track]) -> list[str]:
    return [t.title for t in tracks]


def same_but_id(copy: Track, original: Track) -> bool:
    return copy.id != original.id and replace(copy, id=original.id) == original


async def test_enqueue_returns_positions_and_keeps_exact_tracks(store: QueueStore) -> None:
    tracks = [track("a", duration=61.5, requested_by=7, requested_by_name="Ann"), track("b")]
    assert [await store.enqueue(CHAT, t, limit=LIMIT) for t in tracks] == [1, 2]
    assert await store.pending(CHAT) == tracks
    assert await store.length(CHAT) == 2
    assert await store.now_playing(CHAT) is None
    assert await store.pending(OTHER) == []
    assert await store.length(OTHER) == 0


async def test_enqueue_refuses_past_the_limit_and_changes_nothing(store: QueueStore) -> None:
    tracks = await fill(store, "a", "b")
    with pytest.raises(QueueFull) as info:
        await store.enqueue(CHAT, track("c"), limit=2)
    assert info.value.limit == 2
    assert await store.pending(CHAT) == tracks
    # the slot does not count against the limit
    await store.start_next(CHAT, now=1.0)
    assert await store.enqueue(CHAT, track("c"), limit=2) == 2
    assert titles(await store.pending(CHAT)) == ["b", "c"]


async def test_enqueue_many_appends_the_batch_in_order_after_what_was_queued(
    store: QueueStore,
) -> None:
    first = await fill(store, "a")
    batch = [track(f"b{i}", duration=float(i), requested_by=10**15 + i) for i in range(5)]
    assert await store.enqueue_many(CHAT, batch, limit=LIMIT) == EnqueuedBatch(first=2, added=5)
    assert await store.pending(CHAT) == first + batch
    assert await store.chats_with_state() == [CHAT]
    # a single enqueue after the batch lands behind it; so does a second batch
    assert await store.enqueue(CHAT, track("c"), limit=LIMIT) == 7
    more = [track("d"), track("e")]
    assert await store.enqueue_many(CHAT, more, limit=LIMIT) == EnqueuedBatch(first=8, added=2)
    assert titles(await store.pending(CHAT)) == ["a", "b0", "b1", "b2", "b3", "b4", "c", "d", "e"]
    # the batch plays like any other tracks, in order
    now = await store.start_next(CHAT, now=1.0)
    assert now is not None
    assert now.track == first[0]
    result = await store.advance(CHAT, first[0].id, now=2.0, natural=True)
    assert result.current is not None
    assert result.current.track == batch[0]


async def test_enqueue_many_truncates_to_the_room_left_and_refuses_when_none(
    store: QueueStore,
) -> None:
    """The limit is checked for the batch as a whole: the prefix that fits is queued."""
    await fill(store, "a", "b", "c")
    batch = [track(f"x{i}") for i in range(5)]
    assert await store.enqueue_many(CHAT, batch, limit=5) == EnqueuedBatch(first=4, added=2)
    assert titles(await store.pending(CHAT)) == ["a", "b", "c", "x0", "x1"]
    with pytest.raises(QueueFull) as info:
        await store.enqueue_many(CHAT, [track("y")], limit=5)
    assert info.value.limit == 5
    assert await store.length(CHAT) == 5
    # the slot does not count: starting one makes room for exactly one more
    await store.start_next(CHAT, now=1.0)
    assert await store.enqueue_many(CHAT, batch[2:], limit=5) == EnqueuedBatch(first=5, added=1)
    assert titles(await store.pending(CHAT)) == ["b", "c", "x0", "x1", "x2"]
    with pytest.raises(ValueError, match="empty batch"):
        await store.enqueue_many(CHAT, [], limit=5)


async def test_enqueue_many_takes_a_thousand_long_tracks_at_once(store: QueueStore) -> None:
    """Past Lua's unpack and the chunking of RPUSH (1000 per call)."""
    batch = [track(f"n{i}-" + "ж" * 300) for i in range(1500)]
    done = await store.enqueue_many(CHAT, batch, limit=1200)
    assert done == EnqueuedBatch(first=1, added=1200)
    assert await store.pending(CHAT) == batch[:1200]


async def test_enqueue_many_racing_single_enqueues_never_overfills(backend: Backend) -> None:
    stores = [await backend.open() for _ in range(3)]
    limit = 40

    async def single(n: int) -> int:
        added = 0
        for i in range(15):
            try:
                await stores[n].enqueue(CHAT, track(f"s{n}-{i}"), limit=limit)
                added += 1
            except QueueFull:
                pass
        return added

    async def batch() -> int:
        added = 0
        for i in range(4):
            try:
                done = await stores[2].enqueue_many(
                    CHAT, [track(f"m{i}-{j}") for j in range(8)], limit=limit
                )
                added += done.added
            except QueueFull:
                pass
        return added

    counts = await asyncio.gather(single(0), single(1), batch())
    pending = await stores[0].pending(CHAT)
    assert len(pending) == sum(counts) == limit
    # each batch's tracks stay together and in order: no single enqueue lands inside one
    names = titles(pending)
    for i in range(4):
        mine = [t for t in names if t.startswith(f"m{i}-")]
        assert mine == [f"m{i}-{j}" for j in range(len(mine))]
        if mine:
            at = names.index(mine[0])
            assert names[at : at + len(mine)] == mine


async def test_start_next_fills_the_slot_once(store: QueueStore) -> None:
    assert await store.start_next(CHAT, now=5.0) is None
    a, b = await fill(store, "a", "b")
    first = await store.start_next(CHAT, now=100.0)
    assert first == NowPlaying(track=a, started_at=100.0, position=0.0, updated_at=100.0)
    assert await store.start_next(CHAT, now=200.0) == first
    assert await store.now_playing(CHAT) == first
    assert await store.pending(CHAT) == [b]


async def test_advance_moves_on_once_and_ignores_a_stale_end(store: QueueStore) -> None:
    a, b = await fill(store, "a", "b")
    await store.start_next(CHAT, now=10.0)
    result = await store.advance(CHAT, a.id, now=20.0, natural=True)
    expected = NowPlaying(track=b, started_at=20.0, position=0.0, updated_at=20.0)
    assert (result.advanced, result.finished, result.current) == (True, a, expected)
    duplicate = await store.advance(CHAT, a.id, now=21.0, natural=True)
    assert (duplicate.advanced, duplicate.finished, duplicate.current) == (False, None, expected)
    assert await store.pending(CHAT) == []
    last = await store.advance(CHAT, b.id, now=30.0, natural=True)
    assert (last.advanced, last.finished, last.current) == (True, b, None)
    assert await store.now_playing(CHAT) is None
    assert await store.chats_with_state() == []
    empty = await store.advance(CHAT, b.id, now=31.0, natural=True)
    assert (empty.advanced, empty.finished, empty.current) == (False, None, None)


async def test_loop_mode_defaults_to_off_and_is_per_chat(store: QueueStore) -> None:
    assert await store.get_loop(CHAT) is LoopMode.OFF
    await store.set_loop(CHAT, LoopMode.QUEUE)
    await store.set_loop(OTHER, LoopMode.TRACK)
    assert await store.get_loop(CHAT) is LoopMode.QUEUE
    assert await store.get_loop(OTHER) is LoopMode.TRACK
    await store.set_loop(CHAT, LoopMode.OFF)
    assert await store.get_loop(CHAT) is LoopMode.OFF


async def test_pending_and_loop_reads_both_in_one_operation(store: QueueStore) -> None:
    assert await store.pending_and_loop(CHAT) == ([], LoopMode.OFF)
    _, b, c = await fill(store, "a", "b", "c")
    await store.start_next(CHAT, now=10.0)  # "a" leaves pending for the slot
    await store.set_loop(CHAT, LoopMode.QUEUE)
    [other] = await fill(store, "other", chat=OTHER)
    before = {op: operations(op) for op in ("pending_and_loop", "pending", "get_loop")}
    assert await store.pending_and_loop(CHAT) == ([b, c], LoopMode.QUEUE)
    assert await store.pending_and_loop(OTHER) == ([other], LoopMode.OFF)
    after = {op: operations(op) - before[op] for op in before}
    assert after == {"pending_and_loop": 2, "pending": 0, "get_loop": 0}


async def test_load_many_reads_every_listed_chat_in_one_operation(store: QueueStore) -> None:
    a, b, c = await fill(store, "a", "b", "c")
    playing = await store.start_next(CHAT, now=10.0)
    await store.checkpoint(CHAT, a.id, position=4.5, paused=True, now=12.0)
    await store.set_loop(CHAT, LoopMode.QUEUE)
    [other] = await fill(store, "other", chat=OTHER)
    await store.set_loop(7, LoopMode.TRACK)  # a loop mode and nothing else
    before = operations("load_many")
    found = await store.load_many([CHAT, OTHER, 7, 99])
    assert operations("load_many") - before == 1
    assert playing is not None
    assert found == {
        CHAT: QueueSnapshot(
            current=replace(playing, position=4.5, updated_at=12.0, paused=True),
            pending=[b, c],
            loop=LoopMode.QUEUE,
        ),
        OTHER: QueueSnapshot(current=None, pending=[other], loop=LoopMode.OFF),
        7: QueueSnapshot(current=None, pending=[], loop=LoopMode.TRACK),
        99: QueueSnapshot(current=None, pending=[], loop=LoopMode.OFF),
    }
    assert await store.load_many([]) == {}


async def test_checkpoint_many_writes_each_current_slot_and_skips_stale_ones(
    store: QueueStore,
) -> None:
    a, b = await fill(store, "a", "b")
    [other] = await fill(store, "other", chat=OTHER)
    await store.start_next(CHAT, now=1.0)
    await store.start_next(OTHER, now=1.0)
    written = await store.checkpoint_many(
        [
            Checkpoint(CHAT, a.id, position=7.25, paused=True, now=9.0),
            Checkpoint(OTHER, other.id, position=3.0, paused=False, now=8.0),
            Checkpoint(OTHER, b.id, position=99.0, paused=True, now=10.0),  # not its slot
            Checkpoint(7, "nothing", position=1.0, paused=False, now=10.0),
        ]
    )
    assert written == 2
    assert await store.now_playing(CHAT) == NowPlaying(a, 1.0, 7.25, 9.0, paused=True)
    assert await store.now_playing(OTHER) == NowPlaying(other, 1.0, 3.0, 8.0)
    assert await store.checkpoint_many([]) == 0


async def test_loop_track_replays_on_natural_end_and_skip_moves_on(store: QueueStore) -> None:
    a, b = await fill(store, "a", "b")
    await store.set_loop(CHAT, LoopMode.TRACK)
    await store.start_next(CHAT, now=1.0)
    replay = await store.advance(CHAT, a.id, now=2.0, natural=True)
    assert replay.advanced
    assert replay.finished == a
    assert replay.current is not None
    assert same_but_id(replay.current.track, a)
    assert replay.current.started_at == 2.0
    assert await store.pending(CHAT) == [b]
    # the old id is stale now: a second end report for it changes nothing
    assert not (await store.advance(CHAT, a.id, now=2.5, natural=True)).advanced
    skipped = await store.advance(CHAT, replay.current.track.id, now=3.0, natural=False)
    assert skipped.finished == replay.current.track
    assert skipped.current == NowPlaying(track=b, started_at=3.0, position=0.0, updated_at=3.0)
    assert await store.pending(CHAT) == []


async def test_loop_queue_appends_the_finished_track_under_a_new_id(store: QueueStore) -> None:
    a, b, c = await fill(store, "a", "b", "c")
    await store.set_loop(CHAT, LoopMode.QUEUE)
    await store.start_next(CHAT, now=1.0)
    result = await store.advance(CHAT, a.id, now=2.0, natural=True)
    assert result.current is not None
    assert result.current.track == b
    pending = await store.pending(CHAT)
    assert pending[0] == c
    assert same_but_id(pending[1], a)
    assert len(pending) == 2
    skipped = await store.advance(CHAT, b.id, now=3.0, natural=False)
    assert skipped.current is not None
    assert skipped.current.track == c
    assert titles(await store.pending(CHAT)) == ["a", "b"]
    # a single track in loop queue plays again and again, each time with a new id
    await store.clear(CHAT, include_current=True)
    (solo,) = await fill(store, "solo")
    await store.start_next(CHAT, now=5.0)
    again = await store.advance(CHAT, solo.id, now=6.0, natural=True)
    assert again.current is not None
    assert same_but_id(again.current.track, solo)
    assert await store.pending(CHAT) == []


async def test_remove_takes_out_exactly_one_and_refuses_bad_positions(store: QueueStore) -> None:
    a, b, c = await fill(store, "a", "b", "c")
    assert await store.remove(CHAT, 2) == b
    assert await store.pending(CHAT) == [a, c]
    for bad in (0, 3, -1):
        with pytest.raises(QueuePositionError) as info:
            await store.remove(CHAT, bad)
        assert (info.value.position, info.value.length) == (bad, 2)
    assert await store.pending(CHAT) == [a, c]
    with pytest.raises(QueuePositionError):
        await store.remove(OTHER, 1)


async def test_appends_go_last_after_the_tail_was_taken_out(store: QueueStore) -> None:
    """SQLite hands out the key above the highest pending one, so a key freed at the tail
    is given again: the order must not notice (nor a loop-queue re-append, nor a queue that
    ran empty)."""
    a, b, c = await fill(store, "a", "b", "c")
    assert await store.remove(CHAT, 3) == c
    (d,) = await fill(store, "d")
    assert await store.pending(CHAT) == [a, b, d]
    assert await store.remove_track(CHAT, d.id) == d
    assert await store.move(CHAT, 2, 1) == b
    (e,) = await fill(store, "e")
    assert await store.pending(CHAT) == [b, a, e]
    await store.set_loop(CHAT, LoopMode.QUEUE)
    playing = await store.start_next(CHAT, now=1.0)  # b
    assert playing is not None
    assert await store.remove(CHAT, 2) == e
    result = await store.advance(CHAT, b.id, now=2.0, natural=True)  # b again, after a
    assert result.current is not None
    assert result.current.track == a
    [again] = await store.pending(CHAT)
    assert (again.title, again.id != b.id) == ("b", True)
    await store.clear(CHAT, include_current=True)
    f, g = await fill(store, "f", "g")
    assert await store.pending(CHAT) == [f, g]


async def test_remove_track_takes_out_that_track_wherever_it_is(store: QueueStore) -> None:
    a, b, c, d = await fill(store, "a", "b", "c", 'd "quoted" \\ id-like "id":"x"')
    assert await store.remove_track(CHAT, c.id) == c
    assert await store.pending(CHAT) == [a, b, d]
    # the queue moved on (a into the slot): b is found at its new position
    await store.start_next(CHAT, now=1.0)
    assert await store.remove_track(CHAT, b.id) == b
    assert await store.pending(CHAT) == [d]
    # not pending any more (gone, playing, another chat's, unknown): None, nothing changes
    for chat, gone in ((CHAT, c.id), (CHAT, a.id), (OTHER, d.id), (CHAT, "nope")):
        assert await store.remove_track(chat, gone) is None
    assert await store.pending(CHAT) == [d]
    assert (await store.now_playing(CHAT)).track == a  # type: ignore[union-attr]
    assert await store.remove_track(CHAT, d.id) == d
    assert await store.pending(CHAT) == []
    assert await store.chats_with_state() == [CHAT]


async def test_move_reorders_and_refuses_bad_positions(store: QueueStore) -> None:
    a, b, c, d = await fill(store, "a", "b", "c", "d")
    assert await store.move(CHAT, 1, 3) == a
    assert await store.pending(CHAT) == [b, c, a, d]
    assert await store.move(CHAT, 4, 1) == d
    assert await store.pending(CHAT) == [d, b, c, a]
    assert await store.move(CHAT, 2, 2) == b
    assert await store.pending(CHAT) == [d, b, c, a]
    for src, dst, bad in ((0, 1, 0), (5, 1, 5), (1, 5, 5), (2, -3, -3)):
        with pytest.raises(QueuePositionError) as info:
            await store.move(CHAT, src, dst)
        assert (info.value.position, info.value.length) == (bad, 4)
    assert await store.pending(CHAT) == [d, b, c, a]
    # order stays right for appends after a move
    (e,) = await fill(store, "e")
    assert await store.pending(CHAT) == [d, b, c, a, e]


async def test_shuffle_with_a_seeded_rng_gives_the_same_order_everywhere(
    store: QueueStore,
) -> None:
    await store.shuffle(CHAT, random.Random(1))  # empty: nothing to do, no error
    tracks = await fill(store, *"abcdefgh")
    await store.start_next(CHAT, now=1.0)
    await store.shuffle(CHAT, random.Random(42))
    expected = tracks[1:]
    random.Random(42).shuffle(expected)
    assert await store.pending(CHAT) == expected
    assert expected != tracks[1:]
    now = await store.now_playing(CHAT)
    assert now is not None
    assert now.track == tracks[0]
    (z,) = await fill(store, "z")
    assert await store.pending(CHAT) == [*expected, z]


async def test_clear_with_and_without_the_current_track(store: QueueStore) -> None:
    a, _b, _c = await fill(store, "a", "b", "c")
    await store.start_next(CHAT, now=1.0)
    assert await store.clear(CHAT, include_current=False) == 2
    assert await store.pending(CHAT) == []
    now = await store.now_playing(CHAT)
    assert now is not None
    assert now.track == a
    assert await store.chats_with_state() == [CHAT]
    assert await store.clear(CHAT, include_current=True) == 1
    assert await store.now_playing(CHAT) is None
    assert await store.chats_with_state() == []
    assert await store.clear(CHAT, include_current=True) == 0


async def test_checkpoint_records_position_and_refuses_a_stale_track(store: QueueStore) -> None:
    a, b = await fill(store, "a", "b")
    await store.start_next(CHAT, now=100.0)
    assert await store.checkpoint(CHAT, a.id, position=12.25, paused=True, now=112.5)
    expected = NowPlaying(track=a, started_at=100.0, position=12.25, updated_at=112.5, paused=True)
    assert await store.now_playing(CHAT) == expected
    assert not await store.checkpoint(CHAT, b.id, position=1.0, paused=False, now=113.0)
    assert await store.now_playing(CHAT) == expected
    await store.advance(CHAT, a.id, now=120.0, natural=True)
    assert not await store.checkpoint(CHAT, a.id, position=30.0, paused=False, now=121.0)
    now = await store.now_playing(CHAT)
    assert now == NowPlaying(track=b, started_at=120.0, position=0.0, updated_at=120.0)
    assert not await store.checkpoint(OTHER, a.id, position=1.0, paused=False, now=1.0)


async def test_chats_with_state_lists_chats_with_a_slot_or_pending(store: QueueStore) -> None:
    assert await store.chats_with_state() == []
    await fill(store, "a", chat=OTHER)
    await fill(store, "b", chat=CHAT)
    await store.set_loop(7, LoopMode.QUEUE)  # a loop mode alone is no state to recover
    assert await store.chats_with_state() == [CHAT, OTHER]
    await store.start_next(OTHER, now=1.0)
    assert await store.chats_with_state() == [CHAT, OTHER]
    await store.remove(CHAT, 1)
    assert await store.chats_with_state() == [OTHER]


async def test_chats_with_state_follows_the_play_cycle_and_the_loop_modes(
    store: QueueStore,
) -> None:
    """The hot operations keep the chat list exact: a chat is listed from its first
    queued track until its slot and pending are both empty, in every loop mode."""
    for mode in (LoopMode.OFF, LoopMode.TRACK, LoopMode.QUEUE):
        await store.set_loop(CHAT, mode)
        [a] = await fill(store, "a")
        assert await store.chats_with_state() == [CHAT]
        assert await store.start_next(CHAT, now=1.0) is not None
        assert await store.chats_with_state() == [CHAT]
        await fill(store, "b")  # pending empty, slot full: still listed, once
        assert await store.chats_with_state() == [CHAT]
        result = await store.advance(CHAT, a.id, now=2.0, natural=False)
        assert result.current is not None
        assert await store.chats_with_state() == [CHAT]
        await store.clear(CHAT, include_current=False)
        # looping the queue re-queues the finished track; otherwise the chat is now empty
        result = await store.advance(CHAT, result.current.track.id, now=3.0, natural=False)
        if mode is LoopMode.QUEUE:
            assert result.current is not None
            assert await store.chats_with_state() == [CHAT]
            await store.clear(CHAT, include_current=True)
        else:
            assert result.current is None
        assert await store.chats_with_state() == []
        assert await store.start_next(CHAT, now=4.0) is None
        assert await store.chats_with_state() == []


async def test_unicode_quotes_and_4kb_titles_round_trip(store: QueueStore) -> None:
    odd = track(
        'Ночь «тишины» 🎶 \\ "id":"x" \u0000 end',
        requested_by=2**53 + 1,  # more digits than a double holds
        requested_by_name="Оля 👩‍🎤",
        duration=123.456789012345678,
        kind=SourceKind.TELEGRAM,
        thumbnail="https://example.org/ü.jpg",
        is_live=True,
    )
    big = track("ж" * 2048 + "x" * 2048)
    await store.enqueue(CHAT, odd, limit=LIMIT)
    await store.enqueue(CHAT, big, limit=LIMIT)
    assert await store.pending(CHAT) == [odd, big]
    await store.set_loop(CHAT, LoopMode.QUEUE)
    await store.start_next(CHAT, now=1.0)
    result = await store.advance(CHAT, odd.id, now=2.0, natural=True)
    assert result.finished == odd
    assert result.current is not None
    assert result.current.track == big
    (requeued,) = await store.pending(CHAT)
    assert same_but_id(requeued, odd)
    await store.set_loop(CHAT, LoopMode.TRACK)
    replay = await store.advance(CHAT, big.id, now=3.0, natural=True)
    assert replay.current is not None
    assert same_but_id(replay.current.track, big)


async def test_video_and_lazy_entry_fields_round_trip(store: QueueStore) -> None:
    """What /vplay and a playlist link queue keeps every field through each read: the
    picture's description, the separate sound URL, an unresolved entry's empty media and
    a signed URL's expiry (in a batch, a single enqueue, the slot and a batched read)."""
    lazy = Track(
        title="entry",
        source="https://example.org/watch?v=1",
        media="",
        kind=SourceKind.YTDLP,
        duration=61.0,
        media_kind=MediaKind.VIDEO,
        quality="480p",
    )
    resolved = track(
        "resolved",
        media_kind=MediaKind.VIDEO,
        quality="720p",
        width=1280,
        height=720,
        fps=29.97,
        has_audio=False,
        audio_media="https://example.org/sound.m4a",
        expires_at=1_900_000_000.25,
    )
    assert await store.enqueue_many(CHAT, [lazy, resolved], limit=LIMIT) == EnqueuedBatch(1, 2)
    await store.enqueue(CHAT, replace(lazy, id="single"), limit=LIMIT)
    assert await store.pending(CHAT) == [lazy, resolved, replace(lazy, id="single")]
    assert list((await store.load_many([CHAT]))[CHAT].pending) == [
        lazy,
        resolved,
        replace(lazy, id="single"),
    ]
    current = await store.start_next(CHAT, now=1.0)
    assert current is not None
    assert current.track == lazy
    assert (await store.now_playing(CHAT)) == current


async def test_each_operation_counts_once_in_the_metrics(store: QueueStore) -> None:
    ops = ("enqueue", "enqueue_many", "shuffle", "pending", "advance")
    before = {op: operations(op) for op in ops}
    await fill(store, "a", "b")
    await store.enqueue_many(CHAT, [track("c"), track("d")], limit=LIMIT)
    await store.shuffle(CHAT, random.Random(3))
    await store.pending(CHAT)
    after = {op: operations(op) for op in before}
    assert {op: after[op] - before[op] for op in before} == {
        "enqueue": 2,
        "enqueue_many": 1,
        "shuffle": 1,
        "pending": 1,
        "advance": 0,
    }


async def test_concurrent_enqueue_and_advance_keep_order_and_exactly_once(
    backend: Backend,
) -> None:
    """Many tasks, each with its own store (own connections), enqueue while many players
    race to advance the same track: each track plays exactly once, in queue order."""
    stores = [await backend.open() for _ in range(4)]
    producers, per_producer = 8, 12
    positions: dict[str, int] = {}

    async def produce(n: int) -> None:
        for i in range(per_producer):
            t = track(f"p{n}-{i}")
            positions[t.id] = await stores[n % 4].enqueue(CHAT, t, limit=10_000)

    played: list[str] = []
    successor: dict[str, str | None] = {}
    producing = asyncio.Event()

    async def play(n: int) -> None:
        store = stores[n % 4]
        while True:
            now = await store.start_next(CHAT, now=1.0)
            if now is None:
                if not producing.is_set():
                    return
                await asyncio.sleep(0.001)
                continue
            result = await store.advance(CHAT, now.track.id, now=2.0, natural=True)
            if result.advanced:
                assert result.finished == now.track
                played.append(now.track.id)
                successor[now.track.id] = (
                    None if result.current is None else result.current.track.id
                )

    # the queue order is whatever order the enqueues committed in; record it first
    await asyncio.gather(*(produce(n) for n in range(producers)))
    order = sorted(positions, key=positions.__getitem__)
    assert sorted(positions.values()) == list(range(1, producers * per_producer + 1))
    assert [t.id for t in await stores[0].pending(CHAT)] == order
    # now race: more enqueues while eight players advance the same slot
    more = [track(f"late-{i}") for i in range(20)]

    async def produce_late() -> None:
        producing.set()
        for t in more:
            await stores[1].enqueue(CHAT, t, limit=10_000)
        producing.clear()

    producing.set()
    await asyncio.gather(produce_late(), *(play(n) for n in range(8)))
    expected = order + [t.id for t in more]
    assert sorted(played) == sorted(expected)  # each exactly once
    # what each advance put in the slot next: the following track in queue order, or
    # nothing when the late enqueues had not caught up (only possible among them)
    for i, track_id in enumerate(expected[:-1]):
        allowed = {expected[i + 1]} if i < len(order) - 1 else {expected[i + 1], None}
        assert successor[track_id] in allowed, i
    assert successor[expected[-1]] is None
    assert await stores[0].pending(CHAT) == []
    assert await stores[0].now_playing(CHAT) is None
