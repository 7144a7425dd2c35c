"""ffprobe on real generated files, and the limits applied to its JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sources.base import SourceError
from bot.sources.probe import ProbeResult, parse_probe, probe, run_ffprobe
from tests.support.audio import make_tone


async def test_probe_reads_duration_and_title(tone: Path) -> None:
    result = await probe(str(tone), timeout=5, max_seconds=3600)
    assert result.title == "Test Tone"
    assert result.artist is None
    assert not result.is_live
    assert result.duration is not None
    assert 1.9 < result.duration < 2.2


async def test_opus_tags_live_on_the_stream(tmp_path: Path) -> None:
    path = make_tone(
        tmp_path / "t.opus", seconds=0.5, title="Opus Title", codec_args=("-c:a", "libopus")
    )
    result = await probe(str(path), timeout=5, max_seconds=3600)
    assert result.title == "Opus Title"


async def test_not_audio(silent_video: Path, text_file: Path) -> None:
    for path in (silent_video, text_file):
        with pytest.raises(SourceError) as err:
            await probe(str(path), timeout=5, max_seconds=3600)
        assert err.value.code == "not_audio", path


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        await probe(str(tmp_path / "gone.mp3"), timeout=5, max_seconds=3600)
    assert err.value.code == "not_found"


@pytest.mark.parametrize(
    "media", ["-version", "concat:/etc/hosts|/etc/hosts", "file:/etc/hosts", "subfile:x", "x.mp3"]
)
async def test_option_and_protocol_strings_refused(media: str) -> None:
    with pytest.raises(SourceError) as err:
        await run_ffprobe(media, timeout=5)
    assert err.value.code == "unsupported"


def test_limits_on_probe_json() -> None:
    audio = {"codec_type": "audio"}
    assert parse_probe(
        {"streams": [audio], "format": {"duration": "10.5", "tags": {"TITLE": "T", "ARTIST": "A"}}},
        max_seconds=11,
    ) == ProbeResult(10.5, "T", "A", is_live=False)
    live = parse_probe(
        {"streams": [audio], "format": {"tags": {"icy-name": "Radio One"}}}, max_seconds=1
    )
    assert live == ProbeResult(None, "Radio One", None, is_live=True)
    assert live.display_title() == "Radio One"
    assert ProbeResult(1.0, "Song", "Band", False).display_title() == "Band — Song"
    assert ProbeResult(1.0, "Band - Song", "Band", False).display_title() == "Band - Song"
    with pytest.raises(SourceError) as err:
        parse_probe({"streams": [audio], "format": {"duration": "12"}}, max_seconds=11)
    assert err.value.code == "too_long"
    with pytest.raises(SourceError) as err:
        parse_probe({"streams": [{"codec_type": "video"}], "format": {}}, max_seconds=11)
    assert err.value.code == "not_audio"
    nan = parse_probe({"streams": [audio], "format": {"duration": "N/A"}}, max_seconds=11)
    assert nan.is_live
