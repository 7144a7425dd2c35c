"""What the player records in the Prometheus registry (deltas: the registry is global)."""

from __future__ import annotations

from bot.metrics import REGISTRY
from tests.domain.conftest import CHAT, Rig, make_track


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def count(name: str, **labels: str) -> float:
    return sample(name, **labels) or 0.0


async def test_streams_tracks_and_queues_are_counted(rig: Rig) -> None:
    started = count("sattva_tracks_started_total")
    finished = count("sattva_tracks_ended_total", reason="finished")
    skipped = count("sattva_tracks_ended_total", reason="skipped")
    observed = count("sattva_queue_length_count")

    for name in ("Alpha", "Bravo", "Charlie"):
        await rig.players.play(CHAT, make_track(name))
    assert sample("sattva_active_streams") == 1
    assert sample("sattva_queued_tracks") == 2
    await rig.engine.set_listeners(CHAT, 3)
    await rig.players.drain()
    assert sample("sattva_listeners") == 3

    await rig.end()
    await rig.players.skip(CHAT)
    assert count("sattva_tracks_started_total") == started + 3
    assert count("sattva_tracks_ended_total", reason="finished") == finished + 1
    assert count("sattva_tracks_ended_total", reason="skipped") == skipped + 1
    assert sample("sattva_queued_tracks") == 0
    assert sample("sattva_listeners") == 3  # the call went on across the tracks

    await rig.players.stop(CHAT)
    assert sample("sattva_active_streams") == 0
    assert sample("sattva_listeners") == 0
    # one observation per queue change: 3 plays, the end, the skip, the stop
    assert count("sattva_queue_length_count") == observed + 6
    # no per-chat series unless asked for
    assert sample("sattva_chat_listeners", chat_id=str(CHAT)) is None


async def test_per_chat_series_exist_while_streaming_only(rig: Rig) -> None:
    rig.per_chat_labels = True
    await rig.boot()
    for name in ("Alpha", "Bravo"):
        await rig.players.play(CHAT, make_track(name))
    await rig.engine.set_listeners(CHAT, 4)
    await rig.players.drain()
    assert sample("sattva_chat_listeners", chat_id=str(CHAT)) == 4
    assert sample("sattva_chat_queue_length", chat_id=str(CHAT)) == 1

    await rig.players.stop(CHAT)
    assert sample("sattva_chat_listeners", chat_id=str(CHAT)) is None
    assert sample("sattva_chat_queue_length", chat_id=str(CHAT)) is None
