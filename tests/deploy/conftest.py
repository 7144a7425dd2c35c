"""The deployment kit (deploy/) checked by the tools it is written for, in front of a real
``python -m bot``: nginx, Prometheus and promtool, systemd-analyze.  Each tool runs on
loopback with the shipped file, changed only where a placeholder must name this machine
(``placed`` checks every such change hits, so a reworded file fails here)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.bot_process import ROOT, BotProcess, wait_healthy, write_config
from tests.support.fake_botapi import FakeBotAPI
from tests.support.procs import free_port

DEPLOY = ROOT / "deploy"
ADMIN = "operator"
PASSWORD = "a long operator password"
TOKEN = "deploy-test-monitoring-token"
WEBHOOK_SECRET = "deploy-test-webhook-secret"
# as README "Deploying" says for a node behind nginx on the same machine
WEB = f"""monitoring_token = "{TOKEN}"
trusted_proxies = ["127.0.0.1"]
metrics_interval_seconds = 0.5"""

pytestmark = pytest.mark.slow


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/setup.sh --test installs it)")
    return path


def placed(text: str, changes: dict[str, str]) -> str:
    """``text`` with each placeholder replaced; a placeholder that is not there fails."""
    for old, new in changes.items():
        assert old in text, f"the shipped file no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Node:
    """A running bot process with its web port and the fake Bot API it talks to."""

    api: FakeBotAPI
    port: int
    workdir: Path
    process: BotProcess


async def create_admin(config: Path, workdir: Path) -> None:
    """The operator's way: ``python -m bot admin create`` with the password on stdin."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "admin", "create", ADMIN, "--password-stdin"),
        *("--config", str(config)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(f"{PASSWORD}\n".encode()), 60)
    assert proc.returncode == 0, out.decode()


@contextlib.asynccontextmanager
async def running_node(workdir: Path, telegram: str = "") -> AsyncIterator[Node]:
    async with FakeBotAPI() as api:
        api.on("setWebhook", lambda params: True)  # webhook mode registers itself at start
        port = free_port()
        config = write_config(workdir, api, port, "", telegram=telegram, web=WEB)
        await create_admin(config, workdir)
        process = BotProcess(config, workdir)
        await process.start()
        try:
            await wait_healthy(port)
            yield Node(api, port, workdir, process)
        finally:
            if process.proc is not None and process.proc.returncode is None:
                await process.signal(15)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node that long-polls the fake Bot API."""
    async with running_node(tmp_path) as running:
        yield running


@pytest.fixture
async def webhook_node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node that takes its updates at POST /telegram/webhook."""
    telegram = "\n".join(
        (
            'mode = "webhook"',
            'webhook_url = "https://bot.example.org/telegram/webhook"',
            f'webhook_secret = "{WEBHOOK_SECRET}"',
        )
    )
    async with running_node(tmp_path, telegram) as running:
        yield running


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
