"""``python -m bot`` as a real child process, the way an operator runs it: a config file
for the fake Bot API and the local engine, start, signal, wait until /healthz says healthy.
Shared by the process tests and the deployment tests (nginx, Prometheus in front of it)."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import BinaryIO

from tests.support.fake_botapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent.parent


def write_config(
    workdir: Path,
    api: FakeBotAPI,
    web_port: int,
    redis_url: str,
    *,
    telegram: str = "",
    web: str = "",
    extra: str = "",
    database_url: str = "",
) -> Path:
    """A config for the local engine and the fake Bot API.  ``telegram`` and ``web`` are more
    lines for those tables; ``extra`` is more tables, appended; ``database_url`` defaults to
    an SQLite file in ``workdir``."""
    path = workdir / "config.toml"
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'sattva.db'}"
    path.write_text(
        f"""
[telegram]
bot_token = "{api.token}"
api_base = "{api.url}"
{telegram}
[engine]
kind = "local"
[storage]
database_url = "{database_url}"
redis_url = "{redis_url}"
[sources]
allow_private_networks = true
cache_dir = "{workdir / "cache"}"
ytdlp_enabled = false
[web]
port = {web_port}
secret_key = "process-test-secret-key"
{web}
[logging]
format = "text"
"""
        + extra,
        encoding="utf-8",
    )
    return path


def limit_open_files(limits: tuple[int, int]) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


class BotProcess:
    def __init__(self, config: Path, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.log: BinaryIO | None = None

    async def start(self, *, open_files: tuple[int, int] | None = None) -> None:
        """``open_files``: the (soft, hard) descriptor limit the process starts with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SATTVA_")}
        env["PYTHONPATH"] = str(ROOT)
        self.log = (self.workdir / "bot.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(self.config),
            cwd=self.workdir,
            env=env,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=None if open_files is None else partial(limit_open_files, open_files),
        )

    async def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        self.close_log()
        return code

    def close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    async def close(self) -> None:
        """Kills the process if it still runs (a test that failed before stopping it, which
        would leave a ``python -m bot`` behind and its log for a later test's collector)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.close_log()


def healthz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def wait_healthy(port: int, timeout: float = 45) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            status, body = await asyncio.to_thread(healthz, port)
            if status == 200:
                return body
        except OSError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the bot never became healthy")
        await asyncio.sleep(0.2)
