"""Compiled catalogues for tests: .po files compiled into a temporary directory, since the
.mo files are build products (scripts/setup.sh makes them) and never committed."""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.telegram.i18n import default_locales_dir


def compile_locales(target: Path, source: Path | None = None) -> Path:
    """Copies ``source`` (the project's locales/) to ``target`` and compiles every .po."""
    source = source or default_locales_dir()
    shutil.copytree(source, target, dirs_exist_ok=True)
    for po_path in target.glob("*/LC_MESSAGES/*.po"):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        with po_path.with_suffix(".mo").open("wb") as mo_file:
            write_mo(mo_file, catalog)
    return target
