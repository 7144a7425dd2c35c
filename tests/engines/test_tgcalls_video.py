"""The py-tgcalls adapter with video: the real MediaStream built for each kind, the call
config that decides whether a voice chat may be started, and which stream's end counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytgcalls.types import Device, MediaStream, StreamEnded

from bot.domain.video import fit
from bot.engines.base import PictureLost, PlayRequest, TrackEnded
from bot.engines.tgcalls import PyTgCallsEngine
from bot.engines.tgcalls_events import EndVerdict, UpdateTranslator
from tests.engines import test_tgcalls
from tests.engines.test_tgcalls import CHAT, FakeCalls, FakeClient, audio_end, settle

adapter = test_tgcalls.adapter  # the fixture, shared by name

Adapter = tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]]


def video_end() -> StreamEnded:
    return StreamEnded(CHAT, StreamEnded.Type.VIDEO, Device.CAMERA)


async def test_audio_track_ignores_pictures(adapter: Adapter, videos: dict[str, Path]) -> None:
    engine, calls, _, _ = adapter
    await engine.play(PlayRequest(CHAT, "a", str(videos["cover"])))
    stream, config = calls.streams[-1]
    assert stream._video_flags & MediaStream.Flags.IGNORE
    assert stream.camera is None
    # the assistant does not start a voice chat unless engine.start_video_chat says so
    assert config.auto_start is False


async def test_video_track_gets_both_sides_of_the_box(
    adapter: Adapter, videos: dict[str, Path]
) -> None:
    engine, calls, _, _ = adapter
    spec = fit("720p", 1080, 1920, 30.0)  # a portrait phone video
    await engine.play(PlayRequest(CHAT, "v", str(videos["portrait"]), video=spec))
    stream, _ = calls.streams[-1]
    params = stream._video_parameters
    assert (params.width, params.height, params.frame_rate) == (720, 1280, 30)
    assert stream._video_flags & MediaStream.Flags.REQUIRED
    assert stream._audio_flags & MediaStream.Flags.REQUIRED
    assert stream.camera is not None
    # switching to an audio track is a new stream in the same call, no rejoin
    await engine.play(PlayRequest(CHAT, "a", str(videos["cover"])))
    assert [entry[0] for entry in calls.log].count("leave_call") == 0
    assert calls.streams[-1][0].camera is None


async def test_start_video_chat_is_a_setting(videos: dict[str, Path]) -> None:
    calls, client = FakeCalls(), FakeClient()

    async def invite_link(chat_id: int) -> str:
        return "https://t.me/+x"

    engine = PyTgCallsEngine(
        api_id=1, api_hash="x", session_string="s", invite_link=invite_link,
        client_factory=lambda: client, calls_factory=lambda _c: calls, start_video_chat=True,
    )  # fmt: skip
    await engine.start()
    try:
        await engine.play(PlayRequest(CHAT, "a", str(videos["landscape"])))
    finally:
        await engine.close()
    assert calls.streams[-1][1].auto_start is True


async def test_silent_video_ends_with_its_picture(
    adapter: Adapter, videos: dict[str, Path]
) -> None:
    engine, calls, _, events = adapter
    spec = fit("360p", 640, 360, 25.0)
    await engine.play(PlayRequest(CHAT, "s", str(videos["silent"]), video=spec, has_audio=False))
    assert calls.streams[-1][0]._audio_flags & MediaStream.Flags.IGNORE
    engine.translator.chats[CHAT].started_at -= 10
    engine.on_stream_ended(video_end())
    await settle()
    assert [e for e in events if isinstance(e, TrackEnded)] == [TrackEnded(CHAT, "s")]


def test_a_lost_picture_is_reported_and_the_sound_goes_on() -> None:
    translator = UpdateTranslator()
    translator.started(CHAT, "v", video=True)
    translator.chats[CHAT].started_at -= 10
    assert translator.judge_end(video_end()) == (EndVerdict.PICTURE_LOST, "v")
    assert translator.translate(video_end()) == []
    assert translator.translate(audio_end()) == [TrackEnded(CHAT, "v")]
    # an audio track's picture end (there is none) is simply ignored
    translator.started(CHAT, "a")
    assert translator.judge_end(video_end()) == (EndVerdict.IGNORED, None)


async def test_a_lost_picture_is_an_event_once_and_the_track_goes_on(
    adapter: Adapter, videos: dict[str, Path]
) -> None:
    engine, _calls, _, events = adapter
    spec = fit("360p", 640, 360, 25.0)
    await engine.play(PlayRequest(CHAT, "v", str(videos["landscape"]), video=spec))
    engine.translator.chats[CHAT].started_at -= 10
    engine.on_stream_ended(video_end())
    await settle()
    assert [e for e in events if isinstance(e, PictureLost | TrackEnded)] == [
        PictureLost(CHAT, "v")
    ]
    engine.on_stream_ended(audio_end())  # then the sound ends: the track's real end
    await settle()
    assert [e for e in events if isinstance(e, PictureLost | TrackEnded)] == [
        PictureLost(CHAT, "v"),
        TrackEnded(CHAT, "v"),
    ]
