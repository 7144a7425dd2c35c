"""The py-tgcalls adapter without Telegram: real py-tgcalls update and exception objects go
in, engine events and EngineErrors come out.  The adapter's calls into py-tgcalls are
checked against a recording stand-in of the PyTgCalls object (the one simulated part)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ntgcalls
import pytest
from pyrogram import errors as tg_errors
from pytgcalls import exceptions as calls_errors
from pytgcalls.types import (
    Call,
    ChatUpdate,
    Device,
    GroupCallParticipant,
    MediaStream,
    StreamEnded,
    UpdatedGroupCallParticipant,
)

from bot.engines.base import (
    CallGone,
    ChannelsTooMuch,
    EngineError,
    EngineEvent,
    ListenersChanged,
    MediaError,
    NoActiveCall,
    NotAllowed,
    PlayRequest,
    RateLimited,
    TrackEnded,
)
from bot.engines.tgcalls import PyTgCallsEngine
from bot.engines.tgcalls_events import EndVerdict, UpdateTranslator, map_error
from bot.engines.tgcalls_streams import build_stream
from bot.ffmpeg import NETWORK_FORMATS, NETWORK_PROTOCOLS
from tests.support.clock import ManualClock
from tests.support.egress import routed_through_egress
from tests.support.media_server import MediaServer
from tests.support.ssrf_corpus import PUBLIC_ADDRESS, PUBLIC_HOST, pretend_public

CHAT = -1001234567890
ME = 777


def participant(user_id: int) -> GroupCallParticipant:
    return GroupCallParticipant(
        user_id, False, False, False, False, False, False, 100, 0, None, None
    )  # fmt: skip


def audio_end(chat_id: int = CHAT) -> StreamEnded:
    return StreamEnded(chat_id, StreamEnded.Type.AUDIO, Device.MICROPHONE)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
def translator(clock: ManualClock) -> UpdateTranslator:
    return UpdateTranslator(my_user_id=ME, clock=clock)


def test_stream_end_carries_the_last_played_track(
    translator: UpdateTranslator, clock: ManualClock
) -> None:
    translator.started(CHAT, "t1")
    clock.now += 30
    assert translator.translate(audio_end()) == [TrackEnded(CHAT, "t1")]
    # the known duplicate report of the same end
    assert translator.translate(audio_end()) == []
    assert translator.judge_end(audio_end()) == (EndVerdict.DUPLICATE, "t1")


def test_end_right_after_a_replace_is_not_the_new_tracks(
    translator: UpdateTranslator, clock: ManualClock
) -> None:
    translator.started(CHAT, "old")
    clock.now += 10
    translator.started(CHAT, "new")  # play while playing: ntgcalls ends the old stream
    clock.now += 0.3
    assert translator.judge_end(audio_end()) == (EndVerdict.EARLY, "new")
    assert translator.translate(audio_end()) == []
    clock.now += 60
    assert translator.translate(audio_end()) == [TrackEnded(CHAT, "new")]


def test_early_end_confirmed_once(translator: UpdateTranslator, clock: ManualClock) -> None:
    translator.started(CHAT, "short")
    clock.now += 0.2
    assert translator.judge_end(audio_end())[0] is EndVerdict.EARLY
    assert translator.confirm_end(CHAT, "short") == TrackEnded(CHAT, "short")
    assert translator.confirm_end(CHAT, "short") is None
    assert translator.confirm_end(CHAT, "other") is None


def test_video_end_and_unknown_chat_ignored(
    translator: UpdateTranslator, clock: ManualClock
) -> None:
    translator.started(CHAT, "t1")
    clock.now += 5
    video = StreamEnded(CHAT, StreamEnded.Type.VIDEO, Device.CAMERA)
    assert translator.translate(video) == []
    assert translator.translate(audio_end(-100999)) == []
    assert translator.translate(audio_end()) == [TrackEnded(CHAT, "t1")]


def test_seek_restart_allows_a_new_end(translator: UpdateTranslator, clock: ManualClock) -> None:
    translator.started(CHAT, "t1")
    clock.now += 5
    assert translator.translate(audio_end()) == [TrackEnded(CHAT, "t1")]
    translator.started(CHAT, "t1")  # replayed (loop-track or seek) with the same id
    clock.now += 5
    assert translator.translate(audio_end()) == [TrackEnded(CHAT, "t1")]


def test_participants_counted_without_the_assistant(translator: UpdateTranslator) -> None:
    translator.started(CHAT, "t1")
    joined = GroupCallParticipant.Action.JOINED
    left = GroupCallParticipant.Action.LEFT
    # before the first listing nothing is known, so nothing is claimed
    assert translator.translate(UpdatedGroupCallParticipant(CHAT, joined, participant(1))) == []
    assert translator.set_participants(CHAT, {ME, 1}) == ListenersChanged(CHAT, 1)
    assert translator.translate(UpdatedGroupCallParticipant(CHAT, joined, participant(2))) == [
        ListenersChanged(CHAT, 2)
    ]
    # the assistant's own join changes nothing
    assert translator.translate(UpdatedGroupCallParticipant(CHAT, joined, participant(ME))) == []
    updated = GroupCallParticipant.Action.UPDATED
    assert translator.translate(UpdatedGroupCallParticipant(CHAT, updated, participant(2))) == []
    assert translator.translate(UpdatedGroupCallParticipant(CHAT, left, participant(1))) == [
        ListenersChanged(CHAT, 1)
    ]
    kicked = GroupCallParticipant.Action.KICKED
    assert translator.translate(UpdatedGroupCallParticipant(CHAT, kicked, participant(2))) == [
        ListenersChanged(CHAT, 0)
    ]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ChatUpdate.Status.KICKED, "kicked"),
        (ChatUpdate.Status.LEFT_GROUP, "left_group"),
        (ChatUpdate.Status.CLOSED_VOICE_CHAT, "closed_voice_chat"),
        (ChatUpdate.Status.DISCARDED_CALL, "discarded_call"),
    ],
)
def test_call_gone(translator: UpdateTranslator, status: ChatUpdate.Status, reason: str) -> None:
    translator.started(CHAT, "t1")
    assert translator.translate(ChatUpdate(CHAT, status)) == [CallGone(CHAT, reason)]
    # the chat is forgotten: a late end report of that call means nothing
    assert translator.translate(audio_end()) == []
    assert translator.translate(ChatUpdate(CHAT, status)) == []


def test_other_chat_updates_ignored(translator: UpdateTranslator) -> None:
    translator.started(CHAT, "t1")
    assert translator.translate(ChatUpdate(CHAT, ChatUpdate.Status.INVITED_VOICE_CHAT)) == []
    assert CHAT in translator.chats


@pytest.mark.parametrize(
    ("exc", "kind", "code", "words"),
    [
        (calls_errors.NoActiveGroupCall(), NoActiveCall, "no_active_call", "no active voice"),
        (tg_errors.GroupcallForbidden(), NotAllowed, "not_allowed", "not allowed"),
        (tg_errors.ChatAdminRequired(), NotAllowed, "not_allowed", "not allowed"),
        (tg_errors.UserBannedInChannel(), NotAllowed, "banned", "banned"),
        (tg_errors.UserKicked(), NotAllowed, "banned", "banned"),
        (tg_errors.ChannelPrivate(), NotAllowed, "banned", "cannot see"),
        (tg_errors.InviteRequestSent(), NotAllowed, "not_member", "approval"),
        (tg_errors.InviteHashExpired(), NotAllowed, "not_member", "invite link"),
        (tg_errors.ChannelsTooMuch(), ChannelsTooMuch, "channels_too_much", "too many groups"),
        (tg_errors.FloodWait(value="42"), RateLimited, "flood_wait", "42 s"),
        (ntgcalls.FFmpegError("boom"), MediaError, "media_error", "cannot be played"),
        (FileNotFoundError("/secret/path.mp3"), MediaError, "media_error", "cannot be played"),
        (calls_errors.NoAudioSourceFound("/x"), MediaError, "media_error", "cannot be played"),
        (ntgcalls.TelegramServerError("x"), EngineError, "connection", "connection"),
        (calls_errors.TimedOutAnswer(), EngineError, "call_timeout", "in time"),
    ],
)
def test_error_mapping(exc: BaseException, kind: type[EngineError], code: str, words: str) -> None:
    mapped = map_error(exc)
    assert isinstance(mapped, kind)
    assert mapped.code == code
    assert words in str(mapped)
    assert "/secret" not in str(mapped)


def test_flood_wait_keeps_seconds() -> None:
    mapped = map_error(tg_errors.FloodWait(value="17"))
    assert isinstance(mapped, RateLimited)
    assert mapped.seconds == 17


def test_unknown_error_not_mapped() -> None:
    assert map_error(RuntimeError("?")) is None


# -- the adapter's calls into py-tgcalls ----------------------------------------------------


class FakeCalls:
    """Records what the adapter asks of PyTgCalls; failures are scripted per method."""

    def __init__(self) -> None:
        self.handlers: list[tuple[Any, Any]] = []
        self.log: list[tuple[Any, ...]] = []
        self.fail: dict[str, list[BaseException]] = {}
        self.played_seconds = 0
        self.participants = [participant(ME), participant(1), participant(2)]
        self.playback = Call.Status.ACTIVE
        self.streams: list[tuple[MediaStream, Any]] = []

    def last(self) -> tuple[Any, ...]:
        """The latest call recorded."""
        return self.log[-1]

    def add_handler(self, func: Any, filters: Any = None) -> Any:
        self.handlers.append((func, filters))
        return func

    def _maybe_fail(self, name: str) -> None:
        if self.fail.get(name):
            raise self.fail[name].pop(0)

    async def start(self) -> None:
        self.log.append(("start",))

    async def play(self, chat_id: int, stream: MediaStream, config: Any = None) -> None:
        self._maybe_fail("play")
        self.streams.append((stream, config))
        self.log.append(("play", chat_id, stream._media_path, stream._ffmpeg_parameters))

    async def pause(self, chat_id: int) -> bool:
        self.log.append(("pause", chat_id))
        return True

    async def resume(self, chat_id: int) -> bool:
        self.log.append(("resume", chat_id))
        return True

    async def leave_call(self, chat_id: int) -> None:
        self._maybe_fail("leave_call")
        self.log.append(("leave_call", chat_id))

    async def change_volume_call(self, chat_id: int, volume: int) -> None:
        self.log.append(("volume", chat_id, volume))

    async def get_participants(self, chat_id: int) -> list[GroupCallParticipant]:
        return list(self.participants)

    async def time(self, chat_id: int) -> int:
        return self.played_seconds

    @property
    async def calls(self) -> dict[int, Call]:
        return {CHAT: Call(CHAT, self.playback, Call.Status.IDLE)}


class FakeClient:
    def __init__(self) -> None:
        self.joined: list[str] = []
        self.join_error: BaseException | None = None
        self.is_connected = True

        class Me:
            id = ME

        self.me = Me()

    async def join_chat(self, link: str) -> None:
        if self.join_error is not None:
            raise self.join_error
        self.joined.append(link)

    async def stop(self) -> None:
        self.is_connected = False


@pytest.fixture
async def adapter() -> AsyncIterator[tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]]]:
    calls, client = FakeCalls(), FakeClient()
    events: list[EngineEvent] = []

    async def invite_link(chat_id: int) -> str:
        return f"https://t.me/+invite{abs(chat_id)}"

    async def handler(event: EngineEvent) -> None:
        events.append(event)

    engine = PyTgCallsEngine(
        api_id=1,
        api_hash="x",
        session_string="s",
        invite_link=invite_link,
        client_factory=lambda: client,
        calls_factory=lambda _client: calls,
    )
    engine.set_handler(handler)
    await engine.start()
    yield engine, calls, client, events
    await engine.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_play_seek_position_and_stop(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, _, events = adapter
    assert len(calls.handlers) == 3
    await engine.play(PlayRequest(CHAT, "t1", str(tone), volume=80))
    assert calls.log[1] == ("play", CHAT, str(tone), "-protocol_whitelist file")
    assert calls.log[2] == ("volume", CHAT, 80)
    assert await engine.listeners(CHAT) == 2
    await settle()
    assert events == [ListenersChanged(CHAT, 2)]

    calls.played_seconds = 12
    assert await engine.position(CHAT) == 12.0
    await engine.seek(CHAT, 90.5)
    assert calls.last() == ("play", CHAT, str(tone), "-protocol_whitelist file -ss 90.500")
    calls.played_seconds = 3
    assert await engine.position(CHAT) == 93.5

    await engine.stop(CHAT)
    assert calls.last() == ("leave_call", CHAT)
    assert await engine.position(CHAT) is None
    assert engine.active_chats() == []
    calls.fail["leave_call"] = [calls_errors.NotInCallError()]
    await engine.stop(CHAT)  # not in a call: a no-op


async def test_end_event_through_the_registered_handler(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, _, events = adapter
    await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    engine.translator.chats[CHAT].started_at -= 10  # as if it had been playing for a while
    ended_handler = calls.handlers[0][0]
    await ended_handler(calls, audio_end())
    await ended_handler(calls, audio_end())  # duplicate
    await settle()
    assert [e for e in events if isinstance(e, TrackEnded)] == [TrackEnded(CHAT, "t1")]
    assert await engine.position(CHAT) is None
    assert engine.active_chats() == [CHAT]  # still in the call until stop


async def test_early_end_of_a_very_short_track_is_verified(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, _, events = adapter
    await engine.play(PlayRequest(CHAT, "tiny", str(tone)))
    engine.verify_delay = 0
    # an early end while the call still plays (the replaced stream's) is dropped
    engine.on_stream_ended(audio_end())
    await asyncio.wait(set(engine._checks))
    await settle()
    assert [e for e in events if isinstance(e, TrackEnded)] == []
    # the call went idle: the track really was that short
    calls.playback = Call.Status.IDLE
    engine.on_stream_ended(audio_end())
    await asyncio.wait(set(engine._checks))
    await settle()
    assert [e for e in events if isinstance(e, TrackEnded)] == [TrackEnded(CHAT, "tiny")]


async def test_joins_with_invite_link_when_not_a_member(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, client, _ = adapter
    calls.fail["play"] = [tg_errors.ChannelInvalid()]
    await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    assert client.joined == [f"https://t.me/+invite{abs(CHAT)}"]
    assert calls.log[-1][0] == "play"


async def test_already_a_participant_is_fine(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, client, _ = adapter
    calls.fail["play"] = [tg_errors.PeerIdInvalid()]
    client.join_error = tg_errors.UserAlreadyParticipant()
    await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    assert engine.active_chats() == [CHAT]


async def test_join_refusals_mapped(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, client, _ = adapter
    calls.fail["play"] = [tg_errors.PeerIdInvalid()]
    client.join_error = tg_errors.UserBannedInChannel()
    with pytest.raises(NotAllowed, match="banned"):
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    calls.fail["play"] = [tg_errors.PeerIdInvalid()]
    client.join_error = tg_errors.FloodWait(value="30")
    with pytest.raises(RateLimited) as err:
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    assert err.value.seconds == 30
    calls.fail["play"] = [tg_errors.ChannelPrivate()]
    client.join_error = tg_errors.InviteRequestSent()
    with pytest.raises(NotAllowed, match="approval"):
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    assert engine.active_chats() == []


async def test_no_invite_link_means_not_allowed(tone: Path) -> None:
    async def no_link(chat_id: int) -> str:
        raise RuntimeError("bot is not an admin")

    calls, client = FakeCalls(), FakeClient()
    engine = PyTgCallsEngine(
        api_id=1,
        api_hash="x",
        session_string="s",
        invite_link=no_link,
        client_factory=lambda: client,
        calls_factory=lambda _client: calls,
    )
    await engine.start()
    calls.fail["play"] = [tg_errors.ChannelInvalid()]
    with pytest.raises(NotAllowed, match="cannot invite"):
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    await engine.close()


async def test_play_errors_mapped(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, _, _ = adapter
    calls.fail["play"] = [calls_errors.NoActiveGroupCall()]
    with pytest.raises(NoActiveCall):
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    calls.fail["play"] = [tg_errors.GroupcallForbidden()]
    with pytest.raises(NotAllowed):
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    calls.fail["play"] = [ntgcalls.FFmpegError("x")]
    with pytest.raises(MediaError):
        await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    with pytest.raises(MediaError):
        await engine.play(PlayRequest(CHAT, "t1", "concat:/etc/passwd|/etc/hosts"))
    assert engine.active_chats() == []


async def test_call_gone_forgets_the_chat(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]], tone: Path
) -> None:
    engine, calls, _, events = adapter
    await engine.play(PlayRequest(CHAT, "t1", str(tone)))
    chat_handler = calls.handlers[2][0]
    await chat_handler(calls, ChatUpdate(CHAT, ChatUpdate.Status.CLOSED_VOICE_CHAT))
    await settle()
    assert events[-1] == CallGone(CHAT, "closed_voice_chat")
    assert engine.active_chats() == []
    assert await engine.listeners(CHAT) is None


async def test_stream_arguments_survive_pytgcalls_cleanup(tmp_path: Path, tone: Path) -> None:
    """The -ss and -protocol_whitelist we pass reach the ffmpeg command py-tgcalls builds."""
    stream = build_stream(PlayRequest(CHAT, "t1", str(tone)), 1.5)
    await stream.check_stream()
    command = stream.microphone.path
    assert command.startswith(f"ffmpeg -protocol_whitelist file -ss 1.500 -i {tone} ")
    assert stream.camera is None


async def test_network_stream_goes_through_the_egress_proxy(
    tone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytgcalls' own ffprobe and the ffmpeg command get -http_proxy: its ffprobe can only
    resolve PUBLIC_HOST through the proxy's guarded DNS."""
    server = MediaServer(files={"tone.mp3": (tone, "audio/mpeg")}, host=PUBLIC_ADDRESS)
    await server.start()
    pretend_public(monkeypatch)
    url = f"http://{PUBLIC_HOST}:{server.port}/files/tone.mp3"
    try:
        async with routed_through_egress(allow_private=False) as egress:
            stream = build_stream(PlayRequest(CHAT, "t1", url), 0.0)
            await stream.check_stream()
    finally:
        await server.close()
    command = stream.microphone.path
    assert command.startswith(
        f"ffmpeg -protocol_whitelist {NETWORK_PROTOCOLS} -format_whitelist {NETWORK_FORMATS} "
        f"-http_proxy {egress.url} "
    )
    assert f" -i {url} " in command
    assert server.requests[:1] == ["/files/tone.mp3"]


async def test_https_stream_handed_over_in_the_proxy_mapping() -> None:
    """py-tgcalls' ffprobe and ffmpeg get https media as the egress proxy's mapped http URL,
    with the same whitelists as the bot's own: they never speak TLS (or anything but http)."""
    async with routed_through_egress(allow_private=False) as egress:
        stream = build_stream(PlayRequest(CHAT, "t1", "https://cdn.example/a.mp3"), 0.0)
    assert stream._media_path == "http://cdn.example.https.egress.invalid:443/a.mp3"
    assert stream._ffmpeg_parameters == (
        f"-protocol_whitelist http,tcp,crypto -format_whitelist {NETWORK_FORMATS} "
        f"-http_proxy {egress.url}"
    )


async def test_two_accounts_in_one_process_have_their_own_clients(tone: Path) -> None:
    """Real kurigram Clients and PyTgCalls built twice inside the running loop: separate
    objects and native bindings (nothing connects: start() is never called)."""
    first, second = (
        PyTgCallsEngine(
            api_id=1,
            api_hash="x",
            session_string="",
            invite_link=lambda chat_id: asyncio.sleep(0, ""),
            account=name,
        )
        for name in ("a1", "a2")
    )
    built = [(engine._default_client(), engine) for engine in (first, second)]
    calls = [engine._default_calls(client) for client, engine in built]
    assert built[0][0] is not built[1][0]
    assert [c.name for c, _ in built] == ["sattva-a1", "sattva-a2"]
    assert calls[0]._binding is not calls[1]._binding
    assert calls[0].mtproto_client is built[0][0]


async def test_a_pool_of_two_accounts_moves_a_chat_on_flood_wait(
    tone: Path, tmp_path: Path
) -> None:
    from bot.engines.pool import AssistantPool
    from bot.storage.assignments import AssignmentRepo
    from bot.storage.database import create_engine, migrate, session_factory

    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await migrate(database)
    fakes = {name: (FakeCalls(), FakeClient()) for name in ("a1", "a2")}
    fakes["a1"][0].fail["play"] = [tg_errors.FloodWait(value="30")]

    async def invite_link(chat_id: int) -> str:
        return "https://t.me/+x"

    def account(name: str, calls: FakeCalls, client: FakeClient) -> PyTgCallsEngine:
        return PyTgCallsEngine(
            api_id=1,
            api_hash="x",
            session_string="s",
            invite_link=invite_link,
            account=name,
            client_factory=lambda: client,
            calls_factory=lambda _client: calls,
        )

    pool = AssistantPool(
        [(name, account(name, calls, client)) for name, (calls, client) in fakes.items()],
        AssignmentRepo(session_factory(database)),
    )
    await pool.start()
    try:
        await pool.play(PlayRequest(CHAT, "t1", str(tone), position=4.0))
        assert pool.assistant_of(CHAT) == "a2"
        played = [entry for entry in fakes["a2"][0].log if entry[0] == "play"]
        assert played == [("play", CHAT, str(tone), "-protocol_whitelist file -ss 4.000")]
        assert [e for e in fakes["a1"][0].log if e[0] == "play"] == []
        assert pool.load()["a1"]["cool_down"] > 20
    finally:
        await pool.close()
        await database.dispose()


async def test_preload_probes_the_next_stream_once_and_play_takes_it(
    adapter: tuple[PyTgCallsEngine, FakeCalls, FakeClient, list[Any]],
    tone: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """py-tgcalls probes a stream (ffprobe) in ``play`` before audio flows; a preloaded
    stream was probed already and is handed over as it is."""
    from pytgcalls.types.stream import media_stream

    engine, calls, _, _ = adapter
    probes: list[str] = []
    real_check = media_stream.check_stream

    async def counting(*args: Any, **kwargs: Any) -> Any:
        probes.append(str(args[1]))
        return await real_check(*args, **kwargs)

    monkeypatch.setattr(media_stream, "check_stream", counting)
    played: list[Any] = []
    fake_play = calls.play

    async def play(chat_id: int, stream: MediaStream, config: Any = None) -> None:
        await stream.check_stream()  # what py-tgcalls' play does first
        played.append(stream)
        await fake_play(chat_id, stream, config)

    calls.play = play  # type: ignore[method-assign]
    request = PlayRequest(CHAT, "t1", str(tone), duration=2.0)
    await engine.preload(CHAT, request)
    for _ in range(200):
        if probes:
            break
        await asyncio.sleep(0.01)
    await engine.play(request)
    assert probes == [str(tone)]  # probed ahead, not again in play
    assert played[0].microphone.path.startswith("ffmpeg -protocol_whitelist file -i ")
    # something else plays: the preloaded stream is dropped and the new one probed
    await engine.preload(CHAT, PlayRequest(CHAT, "t2", str(tone)))
    await engine.play(PlayRequest(CHAT, "t3", str(tone)))
    assert len(probes) in (2, 3)
    assert probes[-1] == str(tone)
    assert len(engine._preloads) == 0
