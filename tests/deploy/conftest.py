"""The deployment kit (deploy/) checked by the tools it is written for, in front of a real
``python -m bot``: nginx, Prometheus and promtool, systemd-analyze.  Each tool runs on
loopback with the shipped file, changed only where a placeholder must name this machine
(``placed`` checks every such change hits, so a reworded file fails here)."""

from __future__ import annotations

import asyncio
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


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with FakeBotAPI() as api:
        port = free_port()
        config = write_config(tmp_path, api, port, "", web=WEB)
        await create_admin(config, tmp_path)
        process = BotProcess(config, tmp_path)
        await process.start()
        try:
            await wait_healthy(port)
            yield Node(api, port, tmp_path, process)
        finally:
            if process.proc is not None and process.proc.returncode is None:
                await process.signal(15)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
