"""A track that plays past its length: a server that announced three minutes and keeps
sending is ended by the player's periodic check; live streams are exempt."""

from __future__ import annotations

from bot.domain.playback import OVERRUN_SLACK_SECONDS
from tests.domain.conftest import CHAT, Rig, make_track


async def test_a_track_playing_past_its_length_is_ended(rig: Rig) -> None:
    lying = make_track("Lying", duration=60)
    after = make_track("After")
    await rig.players.play(CHAT, lying)
    await rig.players.play(CHAT, after)
    await rig.players.start()
    await rig.clock.until_sleeping(2)
    # the engine never reports an end: the server keeps sending past the 60 s it announced
    await rig.clock.advance(60 + OVERRUN_SLACK_SECONDS - 5)
    assert await rig.playing_title() == "Lying"
    await rig.clock.advance(10)
    await rig.players.drain()
    assert await rig.playing_title() == "After"
    assert rig.engine.playing(CHAT) == after.id
    assert await rig.history_rows() == [("Lying", "finished"), ("After", None)]


async def test_a_live_stream_plays_on_past_any_length(rig: Rig) -> None:
    radio = make_track("Radio", duration=None, is_live=True)
    await rig.players.play(CHAT, radio)
    await rig.players.start()
    await rig.clock.until_sleeping(2)
    await rig.clock.advance(rig.config.max_track_seconds + 3600)
    assert await rig.playing_title() == "Radio"
    assert rig.engine.playing(CHAT) == radio.id
