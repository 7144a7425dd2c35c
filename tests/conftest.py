"""Fixtures shared by the whole suite: real redis-server, generated audio, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audio import make_tone
from tests.support.procs import RedisServer

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


@pytest.fixture(scope="session")
def short_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 0.5-second mp3, for tests that wait for natural track ends."""
    path = tmp_path_factory.mktemp("audio") / "short.mp3"
    return make_tone(path, seconds=0.5, freq=660, title="Short Tone")
