"""The real process, as an operator runs it: ``python -m bot --config`` against a custom
``telegram.api_base`` (the fake Bot API), the local engine, and the CONTRACT's promises:
answers with titles, /queue, kill -9 then start again resumes with nothing lost, SIGTERM
stops cleanly, /healthz answers.
"""

from __future__ import annotations

import resource
import signal
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.audio import make_tone
from tests.support.bot_process import BotProcess, wait_healthy, write_config
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.procs import child_commands, free_port
from tests.support.tg_objects import UpdateFactory, admin, user

GROUP = -1001700000001
ALICE = user(10, "Alice")
BOB = user(20, "Bob")

pytestmark = pytest.mark.slow


@pytest.fixture
async def processes() -> AsyncIterator[Callable[[Path, Path], BotProcess]]:
    """``BotProcess`` objects that are killed at the end if a test left them running."""
    made: list[BotProcess] = []

    def make(config: Path, workdir: Path) -> BotProcess:
        made.append(BotProcess(config, workdir))
        return made[-1]

    yield make
    for process in made:
        await process.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        fake.set_admins(GROUP, [admin(ALICE)])
        yield fake


@pytest.fixture
async def media(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MediaServer]:
    folder = tmp_path_factory.mktemp("process-media")
    files = {
        f"{name}.mp3": (make_tone(folder / f"{name}.mp3", seconds=60, title=title), "audio/mpeg")
        for name, title in (("one", "First Song"), ("two", "Second Song"), ("three", "Third"))
    }
    server = MediaServer(files=files)
    await server.start()
    yield server
    await server.close()


@pytest.mark.parametrize("backend", ["database", "redis"])
async def test_process_plays_survives_kill_9_and_stops_on_sigterm(
    api: FakeBotAPI,
    media: MediaServer,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
    processes: Callable[[Path, Path], BotProcess],
) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    port = free_port()
    config = write_config(tmp_path, api, port, redis_url)
    updates = UpdateFactory(api)
    bot = processes(config, tmp_path)
    await bot.start()
    assert await wait_healthy(port) == {"bot": True, "storage": True, "engine": True}

    async def say(who: dict[str, object], text: str, expect: str) -> str:
        mark = api.mark()
        api.push_update(updates.message(GROUP, who, text))
        call = await api.wait_text(GROUP, expect, timeout=30, after=mark)
        return call.text

    assert "First Song" in await say(BOB, f"/play {media.url('/files/one.mp3')}", "Now playing")
    # the process hands its ffmpeg the egress proxy it started, not a direct connection
    assert bot.proc is not None
    proxies = [a[a.index("-http_proxy") + 1] for a in child_commands(bot.proc.pid) if "-i" in a]
    assert len(proxies) == 1
    assert proxies[0].startswith("http://127.0.0.1:")
    assert "Second Song" in await say(BOB, f"/play {media.url('/files/two.mp3')}", "Queued #1")
    assert "Third" in await say(BOB, f"/play {media.url('/files/three.mp3')}", "Queued #2")
    before = await say(BOB, "/queue", "Up next (2)")
    assert before.index("First Song") < before.index("Second Song") < before.index("Third")

    assert await bot.signal(signal.SIGKILL) == -signal.SIGKILL

    again = processes(config, tmp_path)
    await again.start()
    await wait_healthy(port)
    # "Up next (2)" is /queue's answer; the resumed track's card says "Up next: Second Song"
    after = await say(BOB, "/queue", "Up next (2)")
    assert after.index("First Song") < after.index("Second Song") < after.index("Third")
    assert after.count("Second Song") == 1
    # the resumed track plays: a member without rights is refused, an admin skips it
    await say(BOB, "/skip", "Only admins who can manage voice chats")
    assert "Second Song" in await say(ALICE, "/skip", "Second Song")
    assert "Third" in (await say(BOB, "/queue", "Third")).split("Second Song", 1)[1]
    assert await again.signal(signal.SIGTERM) == 0
    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert "Traceback" not in log
    assert api.token.split(":")[1] not in log


async def test_idle_web_clients_do_not_starve_the_bot(
    api: FakeBotAPI, media: MediaServer, tmp_path: Path, redis_url: str
) -> None:
    """Started with a 256-descriptor soft limit (hard 4096), 300 web connections that never
    finish their request must not make /play fail: the process raises its soft limit."""
    port = free_port()
    config = write_config(tmp_path, api, port, redis_url)
    (tmp_path / "cache").mkdir()
    orphan = tmp_path / "cache" / "tg-left-over.mp3"  # no stored queue names it
    orphan.write_bytes(b"\0" * 4096)
    bot = BotProcess(config, tmp_path)
    await bot.start(open_files=(256, 4096))
    try:
        await wait_healthy(port)
        assert not orphan.exists()
        assert bot.proc is not None
        soft, _ = resource.prlimit(bot.proc.pid, resource.RLIMIT_NOFILE)
        assert soft == 4096
        idle: list[socket.socket] = []
        try:
            for _ in range(300):
                client = socket.create_connection(("127.0.0.1", port), timeout=5)
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
                idle.append(client)
            mark = api.mark()
            api.push_update(
                UpdateFactory(api).message(GROUP, BOB, f"/play {media.url('/files/one.mp3')}")
            )
            answer = await api.wait_text(GROUP, "Now playing", timeout=30, after=mark)
            assert "First Song" in answer.text
        finally:
            for client in idle:
                client.close()
        assert await bot.signal(signal.SIGTERM) == 0
        log = (tmp_path / "bot.log").read_text(errors="replace")
        assert "Too many open files" not in log
        assert "Traceback" not in log
    finally:
        if bot.proc is not None and bot.proc.returncode is None:  # failed before SIGTERM
            bot.proc.kill()
            await bot.proc.wait()
