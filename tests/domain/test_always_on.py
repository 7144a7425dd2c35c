"""24/7 mode: when the queue runs out, the chat's playlist (a real library folder) plays on."""

from __future__ import annotations

from bot.domain.models import EndReason, SourceKind
from bot.engines.base import MediaError
from tests.domain.conftest import CHAT, Rig, make_track, queue, status

A = make_track("Alpha")


def playing(rig: Rig) -> str:
    request = rig.engine.streams[CHAT]
    return request.media.rsplit("/", 1)[-1]


async def test_the_playlist_takes_over_and_loops_forever(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:radio"])
    await rig.players.play(CHAT, A)
    rig.events()

    await rig.end()
    assert playing(rig) == "01-dawn.mp3"
    events = rig.events()
    assert [e[0] for e in events] == ["track_change", "stream_status", "queue_update"]
    dawn = events[0][1]
    assert (dawn["title"], dawn["reason"], dawn["source_kind"]) == ("Dawn", "always_on", "playlist")
    assert dawn["kind"] == "audio"
    assert dawn["source"] == "lib:radio/01-dawn.mp3"
    assert events[1:] == [status("playing"), queue()]

    seen = []
    for _ in range(4):
        await rig.end()
        seen.append(playing(rig))
    assert seen == ["02-dusk.mp3", "01-dawn.mp3", "02-dusk.mp3", "01-dawn.mp3"]
    now = await rig.store.now_playing(CHAT)
    assert now is not None
    assert now.track.kind is SourceKind.PLAYLIST
    assert (await rig.history_rows())[:3] == [
        ("Alpha", EndReason.FINISHED),
        ("Dawn", EndReason.FINISHED),
        ("Dusk", EndReason.FINISHED),
    ]
    # ids are fresh each round, so a late end of an earlier round is stale
    ids = [c[2] for c in rig.engine.calls if c[0] == "play"]
    assert len(set(ids)) == len(ids) == 6


async def test_a_member_request_comes_before_the_next_playlist_track(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:radio"])
    await rig.players.play(CHAT, A)
    await rig.end()
    assert playing(rig) == "01-dawn.mp3"

    request = make_track("Request")
    await rig.players.play(CHAT, request)
    assert await rig.pending_titles() == ["Request"]  # one playlist track at a time
    await rig.end()
    assert rig.engine.playing(CHAT) == request.id
    await rig.end()
    assert playing(rig) == "01-dawn.mp3"  # the member's track was not from the playlist


async def test_skip_at_the_end_of_the_queue_moves_on_in_the_playlist(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:radio", "lib:no-such-folder"])
    await rig.players.play(CHAT, A)
    now = await rig.players.skip(CHAT)
    assert now is not None
    assert now.track.title == "Dawn"
    now = await rig.players.skip(CHAT)
    assert now is not None
    assert now.track.title == "Dusk"


async def test_stop_ends_24_7_too(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:radio"])
    await rig.players.play(CHAT, A)
    await rig.players.stop(CHAT)
    assert rig.engine.playing(CHAT) is None
    assert await rig.store.chats_with_state() == []


async def test_without_24_7_or_a_playlist_the_chat_goes_idle(rig: Rig) -> None:
    await rig.settings.set_always_on(CHAT, True)  # 24/7 without a playlist
    await rig.players.play(CHAT, A)
    await rig.end()
    assert rig.engine.playing(CHAT) is None
    await rig.settings.set_playlist(CHAT, ["lib:radio"])
    await rig.settings.set_always_on(CHAT, False)  # a playlist, but 24/7 off
    await rig.players.play(CHAT, A.with_new_id())
    await rig.end()
    assert rig.engine.playing(CHAT) is None


async def test_an_unplayable_playlist_does_not_spin(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:radio"])
    await rig.players.play(CHAT, A)
    for _ in range(20):
        rig.engine.fail_next("play", MediaError("decoder missing"))
    await rig.end()
    plays = [c for c in rig.engine.calls if c[0] == "play"]
    assert len(plays) == 1 + 5  # Alpha, then five playlist tracks failed in a row
    assert rig.engine.playing(CHAT) is None
    assert rig.events()[-2:] == [status("idle", reason="queue_end"), queue()]


async def test_a_video_playlist_plays_picture_and_sound_in_the_chats_quality(rig: Rig) -> None:
    """A channel's 24/7 video stream: the playlist's clips as /vplay takes them, fitted into
    the chat's quality; a song in the same folder stays sound only."""
    await rig.configure(CHAT, playlist=["lib:tv"])
    await rig.settings.set_playlist_video(CHAT, True)
    await rig.settings.set_video_quality(CHAT, "480p")
    await rig.players.play(CHAT, A)
    rig.events()

    await rig.end()
    assert playing(rig) == "01-wide.mp4"
    picture = rig.engine.streams[CHAT].video
    assert picture is not None
    assert picture.height == 480
    change = rig.events()[0][1]
    assert (change["title"], change["kind"], change["quality"]) == ("Wide", "video", "480p")

    await rig.end()
    assert playing(rig) == "02-song.mp3"
    assert rig.engine.streams[CHAT].video is None

    # back to sound only: the same clip's next round plays without its picture
    await rig.settings.set_playlist_video(CHAT, False)
    await rig.end()
    assert playing(rig) == "01-wide.mp4"
    assert rig.engine.streams[CHAT].video is None


async def test_a_video_playlist_without_a_chosen_quality_uses_the_default(rig: Rig) -> None:
    await rig.configure(CHAT, playlist=["lib:tv"])
    await rig.settings.set_playlist_video(CHAT, True)
    await rig.players.play(CHAT, A)
    await rig.end()
    picture = rig.engine.streams[CHAT].video
    assert picture is not None
    assert (picture.width, picture.height) == (1280, 720)  # player.video_quality, 720p
