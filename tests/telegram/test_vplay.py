"""/vplay end to end on the real player, local engine (real video decoding), store and
resolver: links, search, replies to every kind of video message, quality per chat, and
every refusal."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import MediaKind
from bot.engines.base import PictureLost
from bot.sources.base import SourceRequest
from bot.telegram.callbacks import CALLBACK_VERSION, SettingChange
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, script_group
from tests.telegram.test_commands import ask

LIMIT_TEXT = (
    "Too many videos are streaming right now, so this one cannot start. "
    "Send /play with the same link or reply to hear its sound instead."
)


async def _rig(
    api: FakeBotAPI,
    tmp_path: Path,
    redis_url: str,
    locales: Path,
    videos: dict[str, Path],
    **player: Any,
) -> Any:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(videos["landscape"], library / "sunrise timelapse.mp4")
    script_group(api)
    return BotRig.open(
        api, tmp_path, redis_url, locales, poll=False,
        sources={"library_dir": str(library)}, player=player,
    )  # fmt: skip


@pytest.fixture
async def vrig(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path,
    videos: dict[str, Path],
) -> AsyncIterator[BotRig]:  # fmt: skip
    async with await _rig(fake_api, tmp_path, redis_url, locales_dir, videos) as rig:
        yield rig


@pytest.fixture
async def vmedia(videos: dict[str, Path]) -> AsyncIterator[MediaServer]:
    server = MediaServer(
        files={
            "wide.mp4": (videos["landscape"], "video/mp4"),
            "tall.mp4": (videos["portrait"], "video/mp4"),
            "mute.mp4": (videos["silent"], "video/mp4"),
            "cover.mp3": (videos["cover"], "audio/mpeg"),
        }
    )
    await server.start()
    yield server
    await server.close()


async def now_track(rig: BotRig) -> Any:
    snapshot = await rig.players.snapshot(GROUP)
    assert snapshot.now is not None
    return snapshot.now.track


async def test_vplay_link_plays_video_and_marks_it(vrig: BotRig, vmedia: MediaServer) -> None:
    events = vrig.services.bus.subscribe(["track_change"])
    answers = await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/wide.mp4')}")
    assert answers == ["▶️ Now playing: 🎬 Wide · 720p (0:02)"]
    track = await now_track(vrig)
    assert (track.media_kind, track.quality, track.width, track.height) == (
        MediaKind.VIDEO, "720p", 640, 360,
    )  # fmt: skip
    change = await events.get()
    assert (change.data["kind"], change.data["quality"]) == ("video", "720p")
    # the portrait one is queued and listed as video too
    answers = await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/tall.mp4')}")
    assert answers == ["🕒 Queued #1: 🎬 Tall · 720p (0:02)"]
    (listing,) = await ask(vrig, MEMBER, "/queue")
    assert "1. 🎬 Tall · 720p (0:02)" in listing
    assert listing.startswith("▶️ Now playing: 🎬 Wide · 720p")


async def test_play_of_a_video_stays_audio(vrig: BotRig, vmedia: MediaServer) -> None:
    answers = await ask(vrig, MEMBER, f"/play {vmedia.url('files/wide.mp4')}")
    assert answers == ["▶️ Now playing: Wide (0:02)"]
    assert (await now_track(vrig)).media_kind is MediaKind.AUDIO


async def test_vplay_without_picture_says_it_plays_as_audio(
    vrig: BotRig, vmedia: MediaServer
) -> None:
    answers = await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/cover.mp3')}")
    assert answers == [
        "▶️ Now playing: Covered (0:02)\nThere is no video in that: it plays as audio."
    ]
    assert (await now_track(vrig)).media_kind is MediaKind.AUDIO


async def test_vplay_silent_video(vrig: BotRig, vmedia: MediaServer) -> None:
    answers = await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/mute.mp4')}")
    assert answers == ["▶️ Now playing: 🎬 Mute · 720p (0:02)"]


async def test_vplay_search_finds_a_library_video(vrig: BotRig) -> None:
    answers = await ask(vrig, MEMBER, "/vplay sunrise timelapse")
    assert answers == ["▶️ Now playing: 🎬 Wide · 720p (0:02)"]


@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("video", {"width": 640, "height": 360, "file_name": "clip.mp4", "mime_type": "video/mp4"}),
        ("video_note", {"length": 360}),
        (
            "animation",
            {"width": 640, "height": 360, "file_name": "a.mp4", "mime_type": "video/mp4"},
        ),
        ("document", {"file_name": "film.mp4", "mime_type": "video/mp4"}),
    ],
)
async def test_vplay_reply_to_video_messages(
    vrig: BotRig, videos: dict[str, Path], field: str, extra: dict[str, Any]
) -> None:
    content = videos["landscape"].read_bytes()
    vrig.api.register_file("vid-1", content, "videos/file_1.mp4")
    attachment = {"file_id": "vid-1", "file_unique_id": "uvid-1", "file_size": len(content)}
    if field != "document":
        attachment["duration"] = 2
    attachment.update(extra)
    replied = vrig.updates.message(GROUP, MEMBER, text=None, **{field: attachment})["message"]
    answers = await ask(vrig, MEMBER, "/vplay", reply_to=replied)
    assert answers[-1] == "▶️ Now playing: 🎬 Wide · 720p (0:02)"
    assert (await now_track(vrig)).media_kind is MediaKind.VIDEO


async def test_vplay_usage_and_source_refusals(vrig: BotRig, vmedia: MediaServer) -> None:
    assert await ask(vrig, MEMBER, "/vplay") == [
        "Usage: /vplay <link or search words>, or reply /vplay to a video."
    ]
    assert await ask(vrig, MEMBER, "/vplay ftp://example.org/film.mp4") == [
        "This kind of link is not supported."
    ]
    assert await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/missing.mp4')}") == [
        "Could not reach that address."
    ]
    snapshot = await vrig.players.snapshot(GROUP)
    assert snapshot.now is None
    assert snapshot.pending == []


async def test_quality_setting_applies_to_vplay(vrig: BotRig, vmedia: MediaServer) -> None:
    (settings_text,) = await ask(vrig, ADMIN, "/settings")
    assert settings_text == "Settings for this chat (press to change):"
    data = SettingChange(v=CALLBACK_VERSION, key="vq", value="360p").pack()
    card = vrig.api.calls_of("sendMessage")[-1]
    card_id = card.result["message_id"]
    await vrig.feed(vrig.updates.callback(GROUP, ADMIN, data, message_id=card_id))
    assert (await vrig.services.chat_settings.get(GROUP)).video_quality == "360p"
    answers = await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/wide.mp4')}")
    assert answers == ["▶️ Now playing: 🎬 Wide · 360p (0:02)"]
    # a member may not change it
    forged = SettingChange(v=CALLBACK_VERSION, key="vq", value="1080p").pack()
    await vrig.feed(vrig.updates.callback(GROUP, MEMBER, forged, message_id=card_id))
    assert (await vrig.services.chat_settings.get(GROUP)).video_quality == "360p"


async def test_video_limit_refuses_and_offers_audio(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path,
    videos: dict[str, Path], vmedia: MediaServer,
) -> None:  # fmt: skip
    other = GROUP - 1
    script_group(fake_api, other)
    rig_cm = await _rig(fake_api, tmp_path, redis_url, locales_dir, videos, max_video_streams=1)
    async with rig_cm as rig:
        long_video = vmedia.url("files/wide.mp4")
        # another chat holds the one video slot
        track = await rig.services.resolver.resolve(
            SourceRequest(query=long_video, video_quality="480p")
        )
        await rig.players.play(other, track)
        assert await ask(rig, MEMBER, f"/vplay {long_video}") == [LIMIT_TEXT]
        snapshot = await rig.players.snapshot(GROUP)
        assert snapshot.now is None
        assert snapshot.pending == []
        # the other chat's picture is untouched; audio is still offered and works
        other_now = (await rig.players.snapshot(other)).now
        assert other_now is not None
        assert other_now.track.is_video
        assert await ask(rig, MEMBER, f"/play {long_video}") == ["▶️ Now playing: Wide (0:02)"]


async def test_a_saved_playlist_plays_its_videos_back_as_video_in_the_chats_quality(
    vrig: BotRig, vmedia: MediaServer
) -> None:
    await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/wide.mp4')}")
    await ask(vrig, MEMBER, f"/play {vmedia.url('files/cover.mp3')}")
    assert await ask(vrig, MEMBER, "/playlist save Clips") == ["💾 Saved as Clips: 2."]
    await vrig.players.stop(GROUP)
    await vrig.services.chat_settings.set_video_quality(GROUP, "480p")
    answers = await ask(vrig, MEMBER, "/playlist play clips")
    assert answers[0].startswith("📃 Queued 2 tracks from Clips.")
    track = await now_track(vrig)
    assert (track.title, track.media_kind, track.quality) == ("Wide", MediaKind.VIDEO, "480p")
    (after,) = (await vrig.players.snapshot(GROUP)).pending
    assert (after.media_kind, after.quality) == (MediaKind.AUDIO, None)


async def test_a_lost_picture_is_told_to_the_chat_once_for_the_track_still_playing(
    vrig: BotRig, vmedia: MediaServer
) -> None:
    await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/wide.mp4')}")
    first = (await now_track(vrig)).id
    await ask(vrig, MEMBER, f"/vplay {vmedia.url('files/tall.mp4')}")
    await vrig.players.handle_event(PictureLost(GROUP, first))
    await vrig.api.wait_text(GROUP, "picture of Wide stopped", timeout=10)
    await vrig.players.skip(GROUP)
    # a late report about the track that is gone says nothing
    await vrig.players.handle_event(PictureLost(GROUP, first))
    await vrig.players.drain()
    await vrig.players.handle_event(PictureLost(GROUP, (await now_track(vrig)).id))
    await vrig.api.wait_text(GROUP, "picture of Tall stopped", timeout=10)
    said = [t for t in vrig.api.sent_texts(GROUP) if "picture of" in t]
    assert said == [
        "🎬 The picture of Wide stopped; its sound plays on.",
        "🎬 The picture of Tall stopped; its sound plays on.",
    ]
