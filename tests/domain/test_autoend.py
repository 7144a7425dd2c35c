"""Auto-end on the manual clock: warning, end, cancel on join, the poll that catches a lost
participant update, and per-chat settings."""

from __future__ import annotations

import pytest

from bot import metrics
from bot.domain.models import EndReason
from tests.domain.conftest import CHAT, Rig, make_track, queue, status

A, B = make_track("Alpha", duration=3600.0), make_track("Bravo", duration=3600.0)
#: for waits longer than a track lasts (a track playing past its length would be ended)
RADIO = make_track("Radio", duration=None, is_live=True)


def auto_ends() -> float:
    return (
        metrics.REGISTRY.get_sample_value("sattva_auto_end_total", {"reason": "no_listeners"}) or 0
    )


@pytest.fixture
async def started(rig: Rig) -> Rig:
    """A rig whose background loops run (config defaults: 300 s, warning 60 s, poll 30 s)."""
    await rig.players.start()
    await rig.clock.until_sleeping(2)
    return rig


async def test_nobody_listening_warns_then_ends(started: Rig) -> None:
    rig = started
    await rig.players.play(CHAT, A)
    await rig.players.play(CHAT, B)
    rig.events()
    before = auto_ends()

    await rig.engine.set_listeners(CHAT, 0)
    await rig.players.drain()
    assert rig.events() == [("listeners_update", {"count": 0})]

    await rig.clock.advance(239)
    assert rig.events() == []
    await rig.clock.advance(1)
    assert rig.events() == [("auto_end_warning", {"seconds_left": 60})]
    await rig.clock.advance(59)
    assert rig.engine.playing(CHAT) == A.id
    await rig.clock.advance(1)

    assert rig.engine.playing(CHAT) is None
    assert rig.engine.calls[-1] == ("stop", CHAT)
    assert rig.events() == [status("idle", reason="auto_end"), queue()]
    assert await rig.store.chats_with_state() == []
    assert await rig.history_rows() == [("Alpha", EndReason.AUTO_END)]
    assert auto_ends() == before + 1


async def test_someone_joining_cancels_the_end(started: Rig) -> None:
    rig = started
    await rig.players.play(CHAT, A)
    rig.events()
    await rig.engine.set_listeners(CHAT, 0)
    await rig.players.drain()
    await rig.clock.advance(250)
    await rig.engine.set_listeners(CHAT, 2)
    await rig.players.drain()
    await rig.clock.advance(3000)

    assert rig.engine.playing(CHAT) == A.id
    assert rig.events() == [
        ("listeners_update", {"count": 0}),
        ("auto_end_warning", {"seconds_left": 60}),
        ("listeners_update", {"count": 2}),
    ]
    assert not rig.players.autoend.armed(CHAT)


async def test_the_poll_catches_a_lost_participant_update(started: Rig) -> None:
    rig = started
    await rig.players.play(CHAT, A)
    rig.events()
    await rig.engine.set_listeners(CHAT, 0, report=False)  # Telegram never told us

    await rig.clock.advance(30)  # the poll runs
    assert rig.events() == [("listeners_update", {"count": 0})]
    await rig.clock.advance(299)
    assert rig.engine.playing(CHAT) == A.id
    assert rig.events() == [("auto_end_warning", {"seconds_left": 60})]
    await rig.clock.advance(1)
    assert rig.engine.playing(CHAT) is None
    assert rig.events() == [status("idle", reason="auto_end"), queue()]


async def test_the_chat_setting_overrides_the_default(started: Rig) -> None:
    rig = started
    other = CHAT + 1
    await rig.configure(CHAT, auto_end_minutes=0)  # never
    await rig.configure(other, auto_end_minutes=2)
    await rig.players.play(CHAT, RADIO)
    await rig.players.play(other, B)
    rig.events(None)
    for chat in (CHAT, other):
        await rig.engine.set_listeners(chat, 0)
    await rig.players.drain()

    await rig.clock.advance(59)
    assert rig.events(None) == [
        ("listeners_update", (CHAT, {"count": 0})),
        ("listeners_update", (other, {"count": 0})),
    ]
    await rig.clock.advance(1)
    assert rig.events(None) == [("auto_end_warning", (other, {"seconds_left": 60}))]
    await rig.clock.advance(59)
    assert rig.engine.playing(other) == B.id
    await rig.clock.advance(1)
    assert rig.engine.playing(other) is None
    assert rig.engine.playing(CHAT) == RADIO.id
    await rig.clock.advance(10_000)
    assert rig.engine.playing(CHAT) == RADIO.id
    assert rig.events(None) == [
        ("stream_status", (other, {"state": "idle", "reason": "auto_end"})),
        ("queue_update", (other, {"length": 0, "titles": [], "loop": "off"})),
    ]
    assert await rig.history_rows(other) == [("Bravo", EndReason.AUTO_END)]


async def test_24_7_chats_are_never_auto_ended(started: Rig) -> None:
    rig = started
    await rig.configure(CHAT, playlist=["lib:radio"])
    await rig.players.play(CHAT, RADIO)
    await rig.engine.set_listeners(CHAT, 0)
    await rig.players.drain()
    await rig.clock.advance(10_000)
    assert rig.engine.playing(CHAT) == RADIO.id


async def test_a_stream_that_ends_on_its_own_disarms_the_timer(started: Rig) -> None:
    rig = started
    await rig.players.play(CHAT, A)
    await rig.engine.set_listeners(CHAT, 0)
    await rig.players.drain()
    assert rig.players.autoend.armed(CHAT)
    await rig.end()
    assert not rig.players.autoend.armed(CHAT)
    rig.events()
    await rig.clock.advance(1000)
    assert rig.events() == []
