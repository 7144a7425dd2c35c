"""Compiled catalogues for tests: .po files compiled into a temporary directory, since the
.mo files are build products (scripts/setup.sh makes them) and never committed."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.resources import compile_catalogues
from bot.telegram.i18n import default_locales_dir


def compile_locales(target: Path, source: Path | None = None) -> Path:
    """Copies ``source`` (the project's locales/) to ``target`` and compiles every .po."""
    source = source or default_locales_dir()
    shutil.copytree(source, target, dirs_exist_ok=True)
    compile_catalogues(target, target)
    return target
