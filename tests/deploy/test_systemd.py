"""The unit files pass ``systemd-analyze verify`` without a single warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, placed, tool

VENV_PYTHON = "/opt/sattva/.venv/bin/python"


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), "verify", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("shipped", "unit"),
    [
        ("sattva.service", "sattva.service"),
        ("sattva@.service", "sattva@node1.service"),
    ],
)
def test_unit_verifies_cleanly(shipped: str, unit: str, tmp_path: Path) -> None:
    text = (DEPLOY / "systemd" / shipped).read_text()
    # verify checks that ExecStart's program exists: point it at this machine's Python
    (tmp_path / shipped).write_text(placed(text, {VENV_PYTHON: sys.executable}))
    result = verify(tmp_path / unit)
    ours = [line for line in result.stderr.splitlines() if shipped.split("@")[0] in line]
    assert result.returncode == 0, result.stderr
    assert ours == [], "\n".join(ours)


@pytest.mark.parametrize("shipped", ["sattva.service", "sattva@.service"])
def test_unit_hardening_and_stop(shipped: str) -> None:
    lines = set((DEPLOY / "systemd" / shipped).read_text().splitlines())
    for wanted in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "LimitNOFILE=65536",
        "KillMode=mixed",
    ):
        assert wanted in lines, wanted
    # the stop timeout covers the app's own shutdown (15 s for polling, then the players)
    stop = next(line for line in lines if line.startswith("TimeoutStopSec="))
    assert int(stop.split("=")[1]) >= 30


def test_verify_catches_a_bad_key(tmp_path: Path) -> None:
    """The check above is only worth something if verify complains about a mistake."""
    text = (DEPLOY / "systemd" / "sattva.service").read_text()
    text = placed(text, {VENV_PYTHON: sys.executable, "PrivateTmp=": "PrivateTemp="})
    (tmp_path / "sattva.service").write_text(text)
    result = verify(tmp_path / "sattva.service")
    assert "PrivateTemp" in result.stderr
