from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.engines.base import EngineError, PlayRequest
from bot.engines.decode import AUDIO_BYTES_PER_SECOND, DecodeJob
from bot.engines.local import LocalEngine
from bot.engines.local_preroll import PREROLL_SECONDS, Prerolls
from bot.engines.local_state import Decoder, Preroll, Run, Session
from tests.support.audio import make_tone


async def _idle_process() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec("sleep", "30")


def _run_at(decoder: Decoder, seconds: float) -> Run:
    run = Run(decoder, 0.0, announce_first_frame=False)
    run.bytes_read = int(seconds * AUDIO_BYTES_PER_SECOND)
    return run


@pytest.mark.parametrize(
    ("played", "duration", "live", "paused", "due"),
    [
        (10.0, 30.0, False, False, False),  # far from the end
        (30.0 - PREROLL_SECONDS + 0.1, 30.0, False, False, True),
        (31.0, 30.0, False, False, True),  # past the announced end
        (29.5, 30.0, False, True, False),  # paused near the end
        (29.5, None, False, False, False),  # no known end
        (29.5, 30.0, True, False, False),  # a live stream has none
    ],
)
async def test_the_next_decoder_is_due_only_near_a_known_end(
    played: float, duration: float | None, live: bool, paused: bool, due: bool
) -> None:
    proc = await _idle_process()
    try:
        session = Session(duration=duration, is_live=live, paused_at=1.0 if paused else None)
        session.preroll = Preroll(PlayRequest(chat_id=1, track_id="next", media="/x.mp3"))
        assert Prerolls.due(session, _run_at(Decoder(proc), played)) is due
        # with nothing playing (the current track ended early) it is due at once
        assert Prerolls.due(session, None) is not paused
    finally:
        proc.kill()
        await proc.wait()


async def test_a_dropped_decoder_is_killed_and_drained(tmp_path: Path) -> None:
    track = make_tone(tmp_path / "next.mp3", seconds=30.0)
    engine = LocalEngine()
    prerolls = Prerolls(engine._spawn)
    session = Session()
    session.preroll = Preroll(PlayRequest(chat_id=1, track_id="next", media=str(track)))
    await prerolls.maybe(session, None)
    decoder = session.preroll.decoder
    assert decoder is not None
    assert decoder.proc.returncode is None
    await asyncio.sleep(0.3)  # its pipe fills; it waits there, as a pre-roll does
    assert decoder.proc.returncode is None
    await prerolls.drop(session)
    assert session.preroll is None
    assert decoder.proc.returncode is not None


async def test_a_decoder_that_cannot_start_is_left_to_play() -> None:
    async def refuse(job: DecodeJob) -> Decoder:
        raise EngineError("no ffmpeg")

    session = Session()
    session.preroll = Preroll(PlayRequest(chat_id=1, track_id="next", media="/x.mp3"))
    await Prerolls(refuse).maybe(session, None)
    assert session.preroll is None  # play() starts it the usual way and reports why


async def test_a_decoder_replaced_while_starting_is_discarded(tmp_path: Path) -> None:
    track = make_tone(tmp_path / "next.mp3", seconds=30.0)
    engine = LocalEngine()
    session = Session()
    started: list[Decoder] = []

    async def spawn_then_replace(job: DecodeJob) -> Decoder:
        decoder = await engine._spawn(job)
        started.append(decoder)
        session.preroll = None  # a preload of another track dropped it meanwhile
        return decoder

    session.preroll = Preroll(PlayRequest(chat_id=1, track_id="next", media=str(track)))
    await Prerolls(spawn_then_replace).maybe(session, None)
    assert session.preroll is None
    assert started
    assert started[0].proc.returncode is not None
