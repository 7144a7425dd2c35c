"""``pip install .`` (not editable): the wheel carries everything the bot reads at run time.

The wheel is built offline from a copy of the sources (no build isolation: the test venv's
setuptools and babel), installed with ``--no-deps`` into a fresh venv that sees the test
venv's packages through a plain path entry (so the dependencies are not downloaded again,
while the test venv's editable hook for this project is not loaded), and run from a
directory outside the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "web", "locales", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SATTVA")}
    env["PIP_NO_INDEX"] = "1"  # nothing may come from the network
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding the project only as an installed wheel."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.mo", "*.egg-info")
    for name in (*SOURCES, "config.example.toml"):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = base / "dist"
    py = sys.executable
    run(py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ".", cwd=source)
    (wheel,) = dist.glob("sattva-*.whl")

    venv = base / "venv"
    run(py, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=base)
    # a plain path line: the dependencies, without processing the test venv's own .pth files
    (Path(purelib.stdout.strip()) / "test-venv.pth").write_text(sysconfig.get_path("purelib"))
    run(py, "-m", "pip", "--python", python, "install", "--no-deps", wheel, cwd=base)
    return python


def test_help_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    where = run(installed, "-c", "import bot; print(bot.__file__)", cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(installed.parent.parent)
    result = run(installed, "-m", "bot", "--help", cwd=tmp_path)
    assert "usage: python -m bot" in result.stdout
    assert "init" in result.stdout


def test_russian_catalogue_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    code = (
        "from bot.telegram.i18n import default_locales_dir, make_i18n\n"
        "print(default_locales_dir())\n"
        "print(make_i18n('en').gettext('Nothing is playing.', locale='ru'))\n"
    )
    where, text = run(installed, "-c", code, cwd=tmp_path).stdout.splitlines()
    assert Path(where).is_relative_to(installed.parent.parent)
    assert text == "Сейчас ничего не играет."


def test_init_and_migrations_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    token = "123456789:AAE-secret-token-value-abcdefghijk"
    run(installed, "-m", "bot", "init", "--token", token, cwd=tmp_path)
    assert 'bot_token = "123456789:' in (tmp_path / "config.toml").read_text()
    code = (
        "import asyncio\n"
        "from bot.storage.database import create_engine, pending_migrations\n"
        "engine = create_engine('sqlite+aiosqlite:///m.db')\n"
        "print(asyncio.run(pending_migrations(engine)))\n"
    )
    versions = ROOT / "bot" / "storage" / "migrations" / "versions"
    expected = sorted(p.name.split("_")[0] for p in versions.glob("[0-9]*.py"))
    assert run(installed, "-c", code, cwd=tmp_path).stdout.strip() == repr(expected)
