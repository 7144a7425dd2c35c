"""Fixtures shared by the whole suite: real redis-server, generated audio, PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio import make_tone
from tests.support.procs import RedisServer
from tests.support.service_pages import ServicePages
from tests.support.video import make_mp3_with_cover, make_video

POSTGRES_URL = os.environ.get(
    "SATTVA_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean database on the session's redis-server for each test."""
    if redis_server.proc is None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second mp3 titled "Test Tone"."""
    return make_tone(tmp_path_factory.mktemp("audio") / "tone.mp3", title="Test Tone")


@pytest.fixture
async def service_pages(tone: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ServicePages]:
    """Spotify, Apple Music, Deezer, Yandex Music and Tidal pages and a search page on
    loopback, installed as the streaming readers' and yt-dlp's targets."""
    pages = ServicePages(tone)
    await pages.start()
    pages.install(monkeypatch)
    yield pages
    await pages.close()


@pytest.fixture(scope="session")
def short_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 0.5-second mp3, for tests that wait for natural track ends."""
    path = tmp_path_factory.mktemp("audio") / "short.mp3"
    return make_tone(path, seconds=0.5, freq=660, title="Short Tone")


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated media for video tests: landscape and portrait clips with sound, a silent
    clip, and an mp3 with cover art (audio, however ffprobe lists the picture)."""
    folder = tmp_path_factory.mktemp("video")
    return {
        "landscape": make_video(folder / "landscape.mp4", size="640x360", title="Wide"),
        "portrait": make_video(folder / "portrait.mp4", size="360x640", title="Tall"),
        "silent": make_video(folder / "silent.mp4", audio=False, title="Mute"),
        "cover": make_mp3_with_cover(folder / "cover.mp3"),
    }


# --- PostgreSQL: a fresh database per test on the server at SATTVA_TEST_POSTGRES ----------


def _postgres_admin_dsn() -> str:
    """The asyncpg DSN for POSTGRES_URL (SQLAlchemy's driver suffix removed)."""
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run_async(coro: Any) -> Any:
    """Runs a coroutine to the end from sync code, beside whatever loop pytest-asyncio runs."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _postgres_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_postgres_admin_dsn(), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """POSTGRES_URL once the server answers.  Unreachable: the test fails when
    SATTVA_REQUIRE_POSTGRES=1 (CI), else it is skipped and the session says so once."""
    from sqlalchemy.engine import make_url

    shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    try:
        _run_async(_postgres_admin("SELECT 1"))
    except Exception as exc:  # refused, timed out, auth: all mean "no server to test on"
        reason = f"PostgreSQL not reachable at {shown} ({exc.__class__.__name__})"
        if os.environ.get("SATTVA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} and SATTVA_REQUIRE_POSTGRES=1")
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL to a new, empty database, dropped after the test."""
    from sqlalchemy.engine import make_url

    name = f"sattva_test_{uuid.uuid4().hex[:12]}"
    _run_async(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        _run_async(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line when PostgreSQL was skipped, read from the skip reports: the fixture may
    have run in a worker process (pytest-xdist), not in this one."""
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if "PostgreSQL not reachable" in reason:
            shown = reason.removeprefix("Skipped: ")
            terminalreporter.write_line(f"{shown}: database tests on PostgreSQL skipped")
            return
