"""The local engine on real ffmpeg and generated audio: the events and timing the player sees."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from bot.engines import local
from bot.engines.base import (
    EngineEvent,
    FirstFrame,
    ListenersChanged,
    MediaError,
    PlayRequest,
    TrackEnded,
    TrackFailed,
)
from bot.engines.local import LocalEngine
from tests.support.audio import make_tone
from tests.support.egress import routed_through_egress
from tests.support.media_server import MediaServer
from tests.support.ssrf_corpus import PUBLIC_ADDRESS, PUBLIC_HOST, pretend_public

CHAT = -100123


#: one kind of engine event
E = TypeVar("E", bound=EngineEvent)


class Recorder:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, kind: type[E], timeout: float = 10.0, *, nth: int = 1) -> E:
        async with asyncio.timeout(timeout):
            while True:
                found = self.of(kind)
                if len(found) >= nth:
                    return found[nth - 1]
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def engine() -> AsyncIterator[tuple[LocalEngine, Recorder]]:
    eng = LocalEngine()
    rec = Recorder()
    eng.set_handler(rec)
    await eng.start()
    yield eng, rec
    await eng.close()


@pytest.fixture(scope="module")
def long_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone(tmp_path_factory.mktemp("audio") / "long.mp3", seconds=30, title="Long")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); its state letter says so
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


async def test_plays_to_natural_end(engine: tuple[LocalEngine, Recorder], short_tone: Path) -> None:
    eng, rec = engine
    await eng.play(PlayRequest(CHAT, "t1", str(short_tone)))
    assert eng.active_chats() == [CHAT]
    ended = await rec.wait_for(TrackEnded)
    assert ended == TrackEnded(CHAT, "t1")
    assert rec.events == [FirstFrame(CHAT, "t1"), TrackEnded(CHAT, "t1")]
    assert await eng.position(CHAT) is None
    # still "in the call" until stop, like the real engine
    assert eng.active_chats() == [CHAT]
    assert await eng.listeners(CHAT) == 1


async def test_position_pause_resume_seek(
    engine: tuple[LocalEngine, Recorder], long_tone: Path
) -> None:
    eng, rec = engine
    await eng.play(PlayRequest(CHAT, "t1", str(long_tone), position=5.0))
    await rec.wait_for(FirstFrame)
    await asyncio.sleep(0.6)
    pos = await eng.position(CHAT)
    assert pos is not None
    assert 5.3 < pos < 7.0

    await eng.pause(CHAT)
    held = await eng.position(CHAT)
    assert held is not None
    assert eng.process_ids() == []
    await asyncio.sleep(0.3)
    assert await eng.position(CHAT) == held

    await eng.resume(CHAT)
    await asyncio.sleep(0.5)
    resumed = await eng.position(CHAT)
    assert resumed is not None
    assert held < resumed < held + 1.5

    await eng.seek(CHAT, 20.0)
    await asyncio.sleep(0.3)
    sought = await eng.position(CHAT)
    assert sought is not None
    assert 20.0 <= sought < 21.5

    await eng.pause(CHAT)
    await eng.seek(CHAT, 25.0)
    assert await eng.position(CHAT) == 25.0
    await eng.set_volume(CHAT, 50)
    assert await eng.position(CHAT) == 25.0
    assert eng.process_ids() == []
    # one first frame per track, whatever restarts happened
    assert rec.events == [FirstFrame(CHAT, "t1")]


async def test_seek_near_end_then_natural_end(
    engine: tuple[LocalEngine, Recorder], long_tone: Path
) -> None:
    eng, rec = engine
    await eng.play(PlayRequest(CHAT, "t1", str(long_tone)))
    await rec.wait_for(FirstFrame)
    await eng.set_volume(CHAT, 150)
    await eng.seek(CHAT, 29.5)
    assert await rec.wait_for(TrackEnded, timeout=5) == TrackEnded(CHAT, "t1")
    assert rec.of(TrackFailed) == []


async def test_stop_emits_nothing_and_kills(
    engine: tuple[LocalEngine, Recorder], long_tone: Path
) -> None:
    eng, rec = engine
    await eng.play(PlayRequest(CHAT, "t1", str(long_tone)))
    await rec.wait_for(FirstFrame)
    (pid,) = eng.process_ids()
    await eng.stop(CHAT)
    await asyncio.sleep(0.2)
    assert rec.events == [FirstFrame(CHAT, "t1")]
    assert not alive(pid)
    assert eng.active_chats() == []
    assert await eng.position(CHAT) is None
    assert await eng.listeners(CHAT) is None
    await eng.stop(CHAT)  # a no-op when not in a call


async def test_replace_emits_nothing_for_old(
    engine: tuple[LocalEngine, Recorder], long_tone: Path, short_tone: Path
) -> None:
    eng, rec = engine
    await eng.play(PlayRequest(CHAT, "old", str(long_tone)))
    await rec.wait_for(FirstFrame)
    (old_pid,) = eng.process_ids()
    await eng.play(PlayRequest(CHAT, "new", str(short_tone)))
    assert not alive(old_pid)
    await rec.wait_for(TrackEnded)
    assert rec.events == [FirstFrame(CHAT, "old"), FirstFrame(CHAT, "new"), TrackEnded(CHAT, "new")]


async def test_bad_media_fails_without_leaking_path(
    engine: tuple[LocalEngine, Recorder], tmp_path: Path
) -> None:
    eng, rec = engine
    bogus = tmp_path / "not-audio.mp3"
    bogus.write_text("this is text, not audio\n" * 50)
    await eng.play(PlayRequest(CHAT, "bad", str(bogus)))
    failed = await rec.wait_for(TrackFailed)
    assert isinstance(failed, TrackFailed)
    assert (failed.chat_id, failed.track_id) == (CHAT, "bad")
    assert str(tmp_path) not in failed.message
    assert failed.message.startswith("<media>: ")  # ffmpeg's reason, without the path
    assert rec.of(TrackEnded) == []

    await eng.play(PlayRequest(CHAT, "missing", str(tmp_path / "nope.mp3")))
    missing = await rec.wait_for(TrackFailed, nth=2)
    assert isinstance(missing, TrackFailed)
    assert missing.track_id == "missing"
    assert "No such file" in missing.message
    assert str(tmp_path) not in missing.message


@pytest.mark.parametrize(
    "media", ["-i", "concat:/etc/passwd|/etc/hosts", "relative.mp3", "file:/etc/passwd", ""]
)
async def test_refuses_media_read_as_option_or_protocol(
    engine: tuple[LocalEngine, Recorder], media: str
) -> None:
    eng, _ = engine
    with pytest.raises(MediaError):
        await eng.play(PlayRequest(CHAT, "x", media))
    assert eng.active_chats() == []


async def test_listeners_changed(engine: tuple[LocalEngine, Recorder], long_tone: Path) -> None:
    eng, rec = engine
    await eng.play(PlayRequest(CHAT, "t1", str(long_tone)))
    eng.set_listeners(CHAT, 0)
    assert await rec.wait_for(ListenersChanged) == ListenersChanged(CHAT, 0)
    assert await eng.listeners(CHAT) == 0


async def test_close_leaves_no_process(long_tone: Path) -> None:
    eng = LocalEngine(default_listeners=3)
    await eng.start()
    for chat in (1, 2, 3):
        await eng.play(PlayRequest(-chat, f"t{chat}", str(long_tone)))
    assert await eng.listeners(-2) == 3
    pids = eng.process_ids()
    assert len(pids) == 3
    tasks_before = {t for t in asyncio.all_tasks() if t.get_name().startswith("local-engine")}
    assert tasks_before
    await eng.close()
    assert all(not alive(pid) for pid in pids)
    assert all(t.done() for t in tasks_before)
    assert eng.active_chats() == []
    assert not await eng.healthy()


async def test_handler_may_play_next_from_the_end_event(short_tone: Path) -> None:
    """The player starts the next track from inside the TrackEnded handler."""
    eng = LocalEngine()
    seen: list[EngineEvent] = []
    done = asyncio.Event()

    async def handler(event: EngineEvent) -> None:
        seen.append(event)
        if event == TrackEnded(CHAT, "a"):
            await eng.play(PlayRequest(CHAT, "b", str(short_tone)))
        elif event == TrackEnded(CHAT, "b"):
            done.set()

    eng.set_handler(handler)
    await eng.start()
    try:
        await eng.play(PlayRequest(CHAT, "a", str(short_tone)))
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        await eng.close()
    assert seen == [
        FirstFrame(CHAT, "a"),
        TrackEnded(CHAT, "a"),
        FirstFrame(CHAT, "b"),
        TrackEnded(CHAT, "b"),
    ]


async def test_plays_http_media(engine: tuple[LocalEngine, Recorder], short_tone: Path) -> None:
    eng, rec = engine
    server = MediaServer(files={"short.mp3": (short_tone, "audio/mpeg")})
    await server.start()
    try:
        await eng.play(PlayRequest(CHAT, "web", server.url("files/short.mp3")))
        assert await rec.wait_for(TrackEnded) == TrackEnded(CHAT, "web")
        assert rec.events == [FirstFrame(CHAT, "web"), TrackEnded(CHAT, "web")]
        await eng.play(PlayRequest(CHAT, "gone", server.url("files/missing.mp3")))
        failed = await rec.wait_for(TrackFailed)
        assert isinstance(failed, TrackFailed)
        assert failed.track_id == "gone"
        assert "404" in failed.message
    finally:
        await server.close()


async def test_plays_http_media_through_the_egress_proxy(
    engine: tuple[LocalEngine, Recorder], short_tone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg cannot resolve PUBLIC_HOST itself, so playing it proves the proxy carried it;
    a redirect into loopback is refused there and the inside server sees nothing."""
    eng, rec = engine
    files = {"short.mp3": (short_tone, "audio/mpeg")}
    public = MediaServer(files=files, host=PUBLIC_ADDRESS)
    inside = MediaServer(files=files)
    await public.start()
    await inside.start()
    pretend_public(monkeypatch)
    try:
        async with routed_through_egress(allow_private=False):
            url = f"http://{PUBLIC_HOST}:{public.port}/files/short.mp3"
            await eng.play(PlayRequest(CHAT, "web", url))
            assert await rec.wait_for(TrackEnded) == TrackEnded(CHAT, "web")
            assert rec.events == [FirstFrame(CHAT, "web"), TrackEnded(CHAT, "web")]
            bounce = (
                f"http://{PUBLIC_HOST}:{public.port}/redirect-to?to={inside.url('files/short.mp3')}"
            )
            await eng.play(PlayRequest(CHAT, "bounce", bounce))
            failed = await rec.wait_for(TrackFailed)
        assert isinstance(failed, TrackFailed)
        assert failed.track_id == "bounce"
        assert "403" in failed.message
        assert public.requests == [
            "/files/short.mp3",
            f"/redirect-to?to={inside.url('files/short.mp3')}",
        ]
        assert inside.requests == []
    finally:
        await public.close()
        await inside.close()


async def test_preload_starts_the_next_decoder_before_the_end_and_play_adopts_it(
    engine: tuple[LocalEngine, Recorder], tmp_path: Path, long_tone: Path
) -> None:
    eng, rec = engine
    first = make_tone(tmp_path / "first.mp3", seconds=1.5, title="First")
    # shorter than PREROLL_SECONDS: its successor starts at once
    await eng.play(PlayRequest(CHAT, "t1", str(first), duration=1.5))
    await eng.preload(CHAT, PlayRequest(CHAT, "t2", str(long_tone), duration=30.0))
    [current, waiting] = eng.process_ids()
    await rec.wait_for(TrackEnded)
    assert eng.process_ids() == [waiting]  # the next decoder waits, nothing read from it
    began = asyncio.get_running_loop().time()
    await eng.play(PlayRequest(CHAT, "t2", str(long_tone), duration=30.0))
    assert eng.process_ids() == [waiting]  # adopted: no new process
    await rec.wait_for(FirstFrame, nth=2)
    assert asyncio.get_running_loop().time() - began < 0.5
    assert not alive(current)
    # it plays in real time from its start, not a burst of what it decoded while waiting
    await asyncio.sleep(1.0)
    position = await eng.position(CHAT)
    assert position is not None
    assert 0.8 < position < 2.0  # unpaced, the whole 30 s would be read by now


async def test_a_preload_not_played_is_dropped(
    engine: tuple[LocalEngine, Recorder], short_tone: Path, long_tone: Path
) -> None:
    eng, _ = engine
    await eng.play(PlayRequest(CHAT, "t1", str(long_tone), duration=30.0))
    # far from the end of a 30 s track: nothing starts yet
    await eng.preload(CHAT, PlayRequest(CHAT, "t2", str(short_tone), duration=1.0))
    assert len(eng.process_ids()) == 1
    await eng.play(PlayRequest(CHAT, "t1", str(long_tone), position=29.0, duration=30.0))
    await eng.preload(CHAT, PlayRequest(CHAT, "t2", str(long_tone), duration=30.0))
    waiting = eng.process_ids()[-1]  # pre-rolled ones are listed last
    await asyncio.sleep(0.5)  # its output fills the pipe and asyncio's buffer meanwhile
    async with asyncio.timeout(10):  # dropping it must not wait for a reader that is not
        await eng.preload(CHAT, None)  # the queue changed: nothing known to come next
    assert not alive(waiting)
    await eng.preload(CHAT, PlayRequest(CHAT, "t3", str(long_tone), duration=30.0))
    waiting = eng.process_ids()[-1]  # pre-rolled ones are listed last
    await asyncio.sleep(0.5)
    async with asyncio.timeout(10):
        await eng.play(PlayRequest(CHAT, "t4", str(long_tone)))  # something else was chosen
    assert not alive(waiting)
    assert len(eng.process_ids()) == 1
    await eng.preload(CHAT, PlayRequest(CHAT, "t5", str(short_tone)))
    await eng.stop(CHAT)
    assert eng.process_ids() == []


async def test_the_end_is_reported_at_the_last_chunk_not_after_its_pacing_sleep(
    engine: tuple[LocalEngine, Recorder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-ahead is audio already handed on: once the pipe is at its end the next
    track may follow at once (the track_gap benchmark's silence)."""
    eng, rec = engine
    # each 100 ms chunk now counts as 5 s of audio, so each paces a ~5 s sleep: a 0.2 s
    # track is two chunks, and the end comes after one sleep (~4.8 s), not two (~9.8 s);
    # sleeps this long leave a loaded machine's ffmpeg seconds to finish the pipe
    monkeypatch.setattr(local, "BYTES_PER_SECOND", local.BYTES_PER_SECOND // 50)
    tone = make_tone(tmp_path / "two_chunks.wav", seconds=0.2, codec_args=("-c:a", "pcm_s16le"))
    await eng.play(PlayRequest(CHAT, "t1", str(tone), duration=0.2))
    await rec.wait_for(FirstFrame)
    began = asyncio.get_running_loop().time()
    await rec.wait_for(TrackEnded, timeout=20)
    assert asyncio.get_running_loop().time() - began < 7.5
