"""Media files and a loopback media server for the source tests."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.config import SourcesConfig
from tests.support.media_server import MediaServer


@pytest.fixture(scope="session")
def silent_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short video without any audio stream."""
    path = tmp_path_factory.mktemp("media") / "silent.mp4"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=5",
            "-an", "-c:v", "mpeg4", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "notes.txt"
    path.write_text("just some words, no audio here\n" * 20)
    return path


@pytest.fixture(scope="session")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second HLS playlist with its segments, and evil.m3u8 whose segment is a file: URL."""
    folder = tmp_path_factory.mktemp("hls")
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", "-b:a", "64k",
            "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
            "-hls_segment_filename", str(folder / "seg%d.ts"), str(folder / "list.m3u8"),
        ],
        check=True,
    )  # fmt: skip
    (folder / "evil.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
        f"file://{folder / 'seg0.ts'}\n#EXT-X-ENDLIST\n"
    )
    return folder


@pytest.fixture
def served_files(
    tone: Path, silent_video: Path, text_file: Path, hls: Path
) -> dict[str, tuple[Path, str]]:
    files = {
        "tone.mp3": (tone, "audio/mpeg"),
        "tone.bin": (tone, "application/octet-stream"),
        "silent.mp4": (silent_video, "video/mp4"),
        "notes.txt": (text_file, "text/plain"),
    }
    for path in sorted(hls.iterdir()):
        kind = "application/vnd.apple.mpegurl" if path.suffix == ".m3u8" else "video/mp2t"
        files[path.name] = (path, kind)
    return files


@pytest.fixture
async def media_server(served_files: dict[str, tuple[Path, str]]) -> AsyncIterator[MediaServer]:
    server = MediaServer(files=served_files)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def make_sources(tmp_path: Path) -> Callable[..., SourcesConfig]:
    """Sources settings for a test: loopback allowed (the test server lives there), yt-dlp off."""

    def make(**overrides: object) -> SourcesConfig:
        values: dict[str, object] = {
            "allow_private_networks": True,
            "probe_timeout_seconds": 5.0,
            "cache_dir": str(tmp_path / "cache"),
            "ytdlp_enabled": False,
        }
        values.update(overrides)
        return SourcesConfig.model_validate(values)

    return make
